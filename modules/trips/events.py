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


@dataclass(frozen=True, kw_only=True)
class TripInterrupted(DomainEvent):
    """The trip could not go on: its vehicle went offline before or during the ride.

    ``started_at`` is None when the rider was never picked up. The rider owes nothing for it.
    """

    name: ClassVar[str] = "trips.TripInterrupted"
    version: ClassVar[int] = 1

    trip_id: UUID
    rider_id: UUID
    vehicle_id: UUID
    started_at: datetime | None
    interrupted_at: datetime
    reason: str


@dataclass(frozen=True, kw_only=True)
class TripCancelled(DomainEvent):
    """The trip was called off before it started, by the rider or by staff.

    The rider owes nothing for it: whoever settles the booking's credit hold gives it back.
    """

    name: ClassVar[str] = "trips.TripCancelled"
    version: ClassVar[int] = 1

    trip_id: UUID
    rider_id: UUID
    reason: str
    cancelled_by: str
    cancelled_at: datetime
