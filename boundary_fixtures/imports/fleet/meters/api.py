"""Front door of the meters fixture module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = ["MeterSummary", "meter_get"]


@dataclass(frozen=True, kw_only=True)
class MeterSummary:
    id: UUID
    name: str


def meter_get(*, meters_id: UUID) -> MeterSummary:
    """The meters with this id."""
    return MeterSummary(id=meters_id, name="meters")
