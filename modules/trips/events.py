"""Events the trips module publishes."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class TripCompleted(DomainEvent):
    """A rider arrived: the trip is over and can be billed."""

    name: ClassVar[str] = "trips.TripCompleted"
    version: ClassVar[int] = 1

    trip_id: UUID
    rider_id: UUID
    vehicle_id: UUID
    distance_km: Decimal
    duration_seconds: int
    completed_at: datetime
