"""Reads of the trips module, for its views, admin and ``api.py``."""

from uuid import UUID

from django.db.models import Prefetch, QuerySet

from modules.trips.errors import BookingNotFound, TripNotFound
from modules.trips.models import (
    ACTIVE_TRIP_STATUSES,
    BOOKING_UNFINISHED_STATES,
    BookingSaga,
    BookingSagaStep,
    Trip,
    TripPosition,
)


def trip_list(*, rider_id: UUID | None = None) -> QuerySet[Trip]:
    """Every trip, newest first, or only ``rider_id``'s when given (a rider's history)."""
    trips = Trip.objects.all()
    if rider_id is not None:
        trips = trips.filter(rider_id=rider_id)
    return trips.order_by("-requested_at", "-id")


def trip_get(*, trip_id: UUID, rider_id: UUID | None = None) -> Trip:
    """The trip; with ``rider_id``, only if it is that rider's (another's is not found)."""
    try:
        return trip_list(rider_id=rider_id).get(id=trip_id)
    except Trip.DoesNotExist:
        raise TripNotFound(f"There is no trip {trip_id}.") from None


def trip_active_for_rider(*, rider_id: UUID) -> Trip | None:
    """The rider's requested, assigned or in-progress trip, if any (there is at most one)."""
    return Trip.objects.filter(rider_id=rider_id, status__in=ACTIVE_TRIP_STATUSES).first()


def trip_position_list(*, trip_id: UUID) -> QuerySet[TripPosition]:
    """The positions reported for a trip, latest first."""
    return TripPosition.objects.filter(trip_id=trip_id).order_by("-recorded_at", "-id")


def booking_list(*, rider_id: UUID | None = None) -> QuerySet[BookingSaga]:
    """Every booking with its steps, newest first, or only ``rider_id``'s when given."""
    bookings = BookingSaga.objects.prefetch_related(
        Prefetch("steps", queryset=BookingSagaStep.objects.order_by("number"))
    )
    if rider_id is not None:
        bookings = bookings.filter(rider_id=rider_id)
    return bookings.order_by("-created_at", "-id")


def booking_get(*, booking_id: UUID, rider_id: UUID | None = None) -> BookingSaga:
    """The booking and its steps; with ``rider_id``, only if it is that rider's."""
    try:
        return booking_list(rider_id=rider_id).get(id=booking_id)
    except BookingSaga.DoesNotExist:
        raise BookingNotFound(f"There is no booking {booking_id}.") from None


def booking_unfinished_for_trip(*, trip_id: UUID) -> BookingSaga | None:
    """The booking that may still create ``trip_id`` (running or compensating), or ``None``."""
    return BookingSaga.objects.filter(trip_id=trip_id, state__in=BOOKING_UNFINISHED_STATES).first()
