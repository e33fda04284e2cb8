"""Front door of the tolls fixture module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = ["TollSummary", "toll_get"]


@dataclass(frozen=True, kw_only=True)
class TollSummary:
    id: UUID
    name: str


def toll_get(*, tolls_id: UUID) -> TollSummary:
    """The tolls with this id."""
    return TollSummary(id=tolls_id, name="tolls")
