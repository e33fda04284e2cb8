"""Front door of the trips module.

Functions take and return small frozen dataclasses, never model instances or querysets.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from modules.trips import booking, selectors, services
from modules.trips.errors import (
    ActiveTripExists,
    BookingPending,
    RiderDeactivated,
    TripNotFound,
    TripNotInProgress,
)
from modules.trips.models import Trip
from monolith.platform.interservice import api_read

__all__ = [
    "ActiveTripExists",
    "BookingPending",
    "RiderDeactivated",
    "TripNotFound",
    "TripNotInProgress",
    "TripSummary",
    "booking_credit_amount",
    "booking_credit_reference",
    "trip_active_for_rider",
    "trip_complete",
    "trip_get",
    "trip_list_for_rider",
    "trip_request",
    "trip_start",
]

RIDER_TRIPS_MAX_LIMIT = 200


@api_read
def booking_credit_reference(*, trip_id: UUID) -> str:
    """The reference of the credit hold a booking places on the rider's wallet for a trip.

    The booking saga holds credit under it; billing captures or releases that hold once the
    trip is paid, unpaid or interrupted. One convention, read by both.
    """
    return booking.booking_credit_reference(trip_id=trip_id)


@api_read
def booking_credit_amount() -> Decimal:
    """How much credit a new booking holds on the rider's wallet (a setting).

    A rider needs at least this much available credit to book a trip.
    """
    return booking.booking_credit_amount()


@dataclass(frozen=True, slots=True, kw_only=True)
class TripSummary:
    id: UUID
    rider_id: UUID
    vehicle_id: UUID | None
    status: str  # requested, assigned, in_progress, completed, cancelled, interrupted
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


def _summary(trip: Trip) -> TripSummary:
    return TripSummary(
        id=trip.id,
        rider_id=trip.rider_id,
        vehicle_id=trip.vehicle_id,
        status=trip.status,
        origin_latitude=trip.origin_latitude,
        origin_longitude=trip.origin_longitude,
        destination_latitude=trip.destination_latitude,
        destination_longitude=trip.destination_longitude,
        requested_at=trip.requested_at,
        started_at=trip.started_at,
        completed_at=trip.completed_at,
        distance_km=trip.distance_km,
        duration_seconds=trip.duration_seconds,
        cancel_reason=trip.cancel_reason,
    )


@api_read
def trip_get(*, trip_id: UUID) -> TripSummary:
    """The trip with this id; raises ``TripNotFound``."""
    return _summary(selectors.trip_get(trip_id=trip_id))


@api_read
def trip_list_for_rider(*, rider_id: UUID, limit: int = 50) -> list[TripSummary]:
    """The rider's trips, newest first, at most ``limit`` of them (capped at 200)."""
    limit = max(0, min(limit, RIDER_TRIPS_MAX_LIMIT))
    return [_summary(trip) for trip in selectors.trip_list(rider_id=rider_id)[:limit]]


@api_read
def trip_active_for_rider(*, rider_id: UUID) -> TripSummary | None:
    """The rider's trip that is requested, assigned or in progress, or ``None``."""
    trip = selectors.trip_active_for_rider(rider_id=rider_id)
    return None if trip is None else _summary(trip)


def trip_request(
    *,
    rider_id: UUID,
    origin_latitude: Decimal,
    origin_longitude: Decimal,
    destination_latitude: Decimal,
    destination_longitude: Decimal,
) -> TripSummary:
    """Book a trip for the rider and assign the nearest vehicle, all or nothing.

    Runs the booking saga: holds ``booking_credit_amount()`` of the rider's credit under
    ``booking_credit_reference(trip_id=...)``, reserves the nearest vehicle, creates the trip.
    A refusal undoes the steps taken and is raised: ``ActiveTripExists``, ``RiderDeactivated``,
    the users module's ``InsufficientCredit`` and ``RiderNotFound``, the vehicles module's
    ``NoVehicleAvailable``. ``BookingPending`` (503) when a module did not answer: the booking
    is stored and finishes by itself.
    """
    return _summary(
        services.trip_request(
            rider_id=rider_id,
            origin_latitude=origin_latitude,
            origin_longitude=origin_longitude,
            destination_latitude=destination_latitude,
            destination_longitude=destination_longitude,
        )
    )


def trip_start(*, trip_id: UUID) -> TripSummary:
    """The assigned vehicle picked the rider up; raises ``IllegalTransition`` otherwise."""
    return _summary(services.trip_start(trip_id=trip_id))


def trip_complete(*, trip_id: UUID, distance_km: Decimal, duration_seconds: int) -> TripSummary:
    """The rider arrived: frees the vehicle and publishes ``TripCompleted``."""
    return _summary(
        services.trip_complete(
            trip_id=trip_id, distance_km=distance_km, duration_seconds=duration_seconds
        )
    )
