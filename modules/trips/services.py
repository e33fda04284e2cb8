"""Writes of the trips module: request, start, track, complete and cancel a trip."""

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError
from django.utils import timezone

from modules.trips.errors import ActiveTripExists, TripNotFound, TripNotInProgress
from modules.trips.events import TripCompleted
from modules.trips.lifecycle import TRIP_LIFECYCLE
from modules.trips.models import (
    ACTIVE_TRIP_STATUSES,
    CancelledBy,
    CancelReason,
    Trip,
    TripPosition,
    TripStatus,
)
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.errors import Conflict, InvalidRequest
from monolith.platform.events import publish
from monolith.platform.geo import position_check
from monolith.platform.registry import module_atomic

DISTANCE_PLACES = 2
# Bounds of one ride in a city fleet; anything beyond is a broken odometer or clock.
MAX_DISTANCE_KM = Decimal("2000.00")
MAX_DURATION_SECONDS = 7 * 24 * 60 * 60
# Vehicle clocks drift a little; a position stamped further ahead than this is a bad clock.
POSITION_CLOCK_SKEW = timedelta(minutes=5)
CANCEL_NOTE_MAX_LENGTH = 500

# Reasons a rider may give; "no_show" and "staff_cancelled" describe what staff decided.
RIDER_CANCEL_REASONS = frozenset(
    {CancelReason.RIDER_CHANGED_MIND, CancelReason.VEHICLE_ISSUE, CancelReason.OTHER}
)

_ACTIVE_TRIP_CONSTRAINT = "trips_trip_one_active_per_rider"


def _decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _trip_lock(*, trip_id: UUID) -> Trip:
    # NO KEY UPDATE still lets positions reference the row while the lock is held.
    try:
        return Trip.objects.select_for_update(no_key=True).get(id=trip_id)
    except Trip.DoesNotExist:
        raise TripNotFound(f"There is no trip {trip_id}.") from None


def _active_trip_conflict(rider_id: UUID) -> ActiveTripExists:
    return ActiveTripExists(
        f"Rider {rider_id} already has an active trip; finish or cancel it before requesting "
        "another."
    )


@module_atomic("trips")
def trip_request(
    *,
    rider_id: UUID,
    origin_latitude: Decimal,
    origin_longitude: Decimal,
    destination_latitude: Decimal,
    destination_longitude: Decimal,
) -> Trip:
    """Create the rider's trip and reserve the nearest vehicle for it, all or nothing.

    When no vehicle is available the whole request fails and no trip is stored. Only an
    active account with the rider role may ride (``RiderNotFound`` otherwise).
    """
    position_check(latitude=origin_latitude, longitude=origin_longitude, prefix="origin_")
    position_check(
        latitude=destination_latitude, longitude=destination_longitude, prefix="destination_"
    )
    if (origin_latitude, origin_longitude) == (destination_latitude, destination_longitude):
        raise InvalidRequest(
            "The destination must differ from the origin.", field="destination_latitude"
        )
    rider = users_api.rider_get(rider_id=rider_id)
    if not rider.is_active:
        raise Conflict(f"Rider {rider_id} is deactivated and cannot request trips.")
    if Trip.objects.filter(rider_id=rider_id, status__in=ACTIVE_TRIP_STATUSES).exists():
        raise _active_trip_conflict(rider_id)

    try:
        # A savepoint, so that losing a race with a concurrent request is a clean 409.
        with module_atomic("trips"):
            trip = Trip.objects.create(
                rider_id=rider_id,
                status=TripStatus.REQUESTED,
                origin_latitude=origin_latitude,
                origin_longitude=origin_longitude,
                destination_latitude=destination_latitude,
                destination_longitude=destination_longitude,
                requested_at=timezone.now(),
            )
    except IntegrityError as exc:
        if _ACTIVE_TRIP_CONSTRAINT in str(exc):
            raise _active_trip_conflict(rider_id) from None
        raise

    # The trip exists first, so the vehicle records which trip holds it.
    vehicle = vehicles_api.vehicle_reserve_nearest(
        latitude=origin_latitude, longitude=origin_longitude, trip_id=trip.id
    )
    TRIP_LIFECYCLE.check(trip.status, TripStatus.ASSIGNED)
    trip.vehicle_id = vehicle.id
    trip.status = TripStatus.ASSIGNED
    trip.assigned_at = timezone.now()
    trip.save(update_fields=["vehicle_id", "status", "assigned_at", "updated_at"])
    return trip


@module_atomic("trips")
def trip_start(*, trip_id: UUID) -> Trip:
    """The rider is on board: the assigned vehicle sets off."""
    trip = _trip_lock(trip_id=trip_id)
    TRIP_LIFECYCLE.check(trip.status, TripStatus.IN_PROGRESS)
    if trip.vehicle_id is None:
        # The lifecycle only reaches "assigned" with a vehicle; guard the invariant anyway.
        raise TripNotInProgress(f"Trip {trip.id} has no vehicle to start.")
    vehicles_api.vehicle_start_trip(vehicle_id=trip.vehicle_id, trip_id=trip.id)
    trip.status = TripStatus.IN_PROGRESS
    trip.started_at = timezone.now()
    trip.save(update_fields=["status", "started_at", "updated_at"])
    return trip


@module_atomic("trips")
def trip_record_position(
    *, trip_id: UUID, recorded_at: datetime, latitude: Decimal, longitude: Decimal
) -> TripPosition:
    """Record where the trip's vehicle was at ``recorded_at``; only while the trip runs."""
    position_check(latitude=latitude, longitude=longitude)
    if timezone.is_naive(recorded_at):
        raise InvalidRequest("recorded_at must carry a time zone.", field="recorded_at")
    trip = _trip_lock(trip_id=trip_id)
    if trip.status != TripStatus.IN_PROGRESS:
        raise TripNotInProgress(
            f"Trip {trip.id} is {trip.status}; positions are recorded only while it is "
            f"{TripStatus.IN_PROGRESS}."
        )
    now = timezone.now()
    if recorded_at > now + POSITION_CLOCK_SKEW:
        raise InvalidRequest("recorded_at lies in the future.", field="recorded_at")
    if trip.started_at is not None and recorded_at < trip.started_at:
        raise InvalidRequest("recorded_at is before the trip started.", field="recorded_at")
    return TripPosition.objects.create(
        trip=trip, recorded_at=recorded_at, latitude=latitude, longitude=longitude, received_at=now
    )


@module_atomic("trips")
def trip_complete(*, trip_id: UUID, distance_km: Decimal, duration_seconds: int) -> Trip:
    """The rider arrived: record the trip's size, publish ``TripCompleted``, free the vehicle."""
    if not distance_km.is_finite() or distance_km <= 0:
        raise InvalidRequest("distance_km must be greater than 0.", field="distance_km")
    if distance_km > MAX_DISTANCE_KM or _decimal_places(distance_km) > DISTANCE_PLACES:
        raise InvalidRequest(
            f"distance_km must be at most {MAX_DISTANCE_KM} with {DISTANCE_PLACES} decimal places.",
            field="distance_km",
        )
    if not 0 < duration_seconds <= MAX_DURATION_SECONDS:
        raise InvalidRequest(
            f"duration_seconds must be between 1 and {MAX_DURATION_SECONDS} (seven days).",
            field="duration_seconds",
        )

    trip = _trip_lock(trip_id=trip_id)
    TRIP_LIFECYCLE.check(trip.status, TripStatus.COMPLETED)
    if trip.vehicle_id is None:
        raise TripNotInProgress(f"Trip {trip.id} has no vehicle to complete.")
    trip.status = TripStatus.COMPLETED
    trip.completed_at = timezone.now()
    trip.distance_km = distance_km
    trip.duration_seconds = duration_seconds
    trip.save(
        update_fields=["status", "completed_at", "distance_km", "duration_seconds", "updated_at"]
    )
    publish(
        TripCompleted(
            trip_id=trip.id,
            rider_id=trip.rider_id,
            vehicle_id=trip.vehicle_id,
            distance_km=distance_km,
            duration_seconds=duration_seconds,
            completed_at=trip.completed_at,
        )
    )
    # The vehicle is freed last. Its database need not be this one, so once it is freed
    # nothing here could undo that: a failure before this point (a subscriber, the save)
    # leaves the vehicle in the trip, and a refusal here rolls the completion back.
    vehicles_api.vehicle_end_trip(
        vehicle_id=trip.vehicle_id, trip_id=trip.id, distance_km=distance_km
    )
    return trip


@module_atomic("trips")
def trip_cancel(*, trip_id: UUID, reason: str, cancelled_by: str, note: str = "") -> Trip:
    """Call off a trip that has not started yet and give its vehicle back to the fleet."""
    if cancelled_by not in CancelledBy.values:
        raise InvalidRequest(f"{cancelled_by!r} is not who may cancel.", field="cancelled_by")
    if reason not in CancelReason.values:
        raise InvalidRequest(f"{reason!r} is not a cancellation reason.", field="reason")
    if cancelled_by == CancelledBy.RIDER and reason not in RIDER_CANCEL_REASONS:
        raise InvalidRequest(
            f"A rider cannot cancel with the reason {reason!r}; staff record that one.",
            field="reason",
        )
    note = note.strip()
    if reason == CancelReason.OTHER and not note:
        raise InvalidRequest("Say why in a note when the reason is 'other'.", field="note")
    if len(note) > CANCEL_NOTE_MAX_LENGTH:
        raise InvalidRequest(
            f"The note may be at most {CANCEL_NOTE_MAX_LENGTH} characters.", field="note"
        )

    trip = _trip_lock(trip_id=trip_id)
    TRIP_LIFECYCLE.check(trip.status, TripStatus.CANCELLED)
    if trip.vehicle_id is not None:
        # A no-op when the vehicle is no longer this trip's; one that went offline while
        # reserved stays offline, freed from the trip.
        vehicles_api.vehicle_release(vehicle_id=trip.vehicle_id, trip_id=trip.id)
    trip.status = TripStatus.CANCELLED
    trip.cancelled_at = timezone.now()
    trip.cancel_reason = reason
    trip.cancel_note = note
    trip.cancelled_by = cancelled_by
    trip.save(
        update_fields=[
            "status",
            "cancelled_at",
            "cancel_reason",
            "cancel_note",
            "cancelled_by",
            "updated_at",
        ]
    )
    return trip
