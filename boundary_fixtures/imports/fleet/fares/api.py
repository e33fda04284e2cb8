"""Front door of the fares fixture module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = ["FareSummary", "fare_get"]


@dataclass(frozen=True, kw_only=True)
class FareSummary:
    id: UUID
    name: str


def fare_get(*, fares_id: UUID) -> FareSummary:
    """The fares with this id."""
    return FareSummary(id=fares_id, name="fares")
