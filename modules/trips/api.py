"""Front door of the trips module.

Functions take and return small frozen dataclasses, never model instances or querysets.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from monolith.platform.errors import NotFound


class TripNotFound(NotFound):
    code = "trip_not_found"


@dataclass(frozen=True, slots=True, kw_only=True)
class TripSummary:
    id: UUID
    rider_id: UUID
    vehicle_id: UUID | None
    status: str  # requested, assigned, in_progress, completed, cancelled
    origin_latitude: Decimal
    origin_longitude: Decimal
    destination_latitude: Decimal
    destination_longitude: Decimal
    requested_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    distance_km: Decimal | None
    duration_seconds: int | None
    cancel_reason: str


def trip_get(*, trip_id: UUID) -> TripSummary:
    """The trip with this id; raises ``TripNotFound``."""
    raise NotImplementedError
