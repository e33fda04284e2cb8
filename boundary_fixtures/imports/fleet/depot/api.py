"""Front door of the depot fixture module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = ["DepotSummary", "depot_get"]


@dataclass(frozen=True, kw_only=True)
class DepotSummary:
    id: UUID
    name: str


def depot_get(*, depot_id: UUID) -> DepotSummary:
    """The depot with this id."""
    return DepotSummary(id=depot_id, name="depot")
