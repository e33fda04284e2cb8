"""Front door of the parking fixture module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = ["ParkingSummary", "parking_get"]


@dataclass(frozen=True, kw_only=True)
class ParkingSummary:
    id: UUID
    name: str


def parking_get(*, parking_id: UUID) -> ParkingSummary:
    """The parking with this id."""
    return ParkingSummary(id=parking_id, name="parking")
