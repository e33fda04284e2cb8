"""Front door of the garage fixture module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = ["GarageSummary", "garage_get"]


@dataclass(frozen=True, kw_only=True)
class GarageSummary:
    id: UUID
    name: str


def garage_get(*, garage_id: UUID) -> GarageSummary:
    """The garage with this id."""
    return GarageSummary(id=garage_id, name="garage")
