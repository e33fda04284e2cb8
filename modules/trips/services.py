"""Writes of the trips module: request, start, track, complete, cancel and interrupt a trip."""

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.utils import timezone

from modules.trips import booking
from modules.trips.errors import TripNotFound, TripNotInProgress
from modules.trips.events import TripCancelled, TripCompleted, TripInterrupted
from modules.trips.lifecycle import TRIP_LIFECYCLE
from modules.trips.models import (
    CancelledBy,
    CancelReason,
    Trip,
    TripPosition,
    TripStatus,
)
from modules.vehicles import api as vehicles_api
from monolith.platform.errors import InvalidRequest
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


def _decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _trip_lock(*, trip_id: UUID) -> Trip:
    # NO KEY UPDATE still lets positions reference the row while the lock is held.
    try:
        return Trip.objects.select_for_update(no_key=True).get(id=trip_id)
    except Trip.DoesNotExist:
        raise TripNotFound(f"There is no trip {trip_id}.") from None


def trip_request(
    *,
    rider_id: UUID,
    origin_latitude: Decimal,
    origin_longitude: Decimal,
    destination_latitude: Decimal,
    destination_longitude: Decimal,
) -> Trip:
    """Book a trip through the booking saga and return it, assigned to the nearest vehicle.

    The saga holds the rider's booking credit, reserves the vehicle and creates the trip, each
    step committed on its own (``modules.trips.booking``). A refusal undoes what was done and
    is raised: ``InsufficientCredit``, ``NoVehicleAvailable``, ``ActiveTripExists``,
    ``RiderDeactivated``, ``RiderNotFound`` (not a rider). ``BookingPending`` (503) when a
    module did not answer: the booking goes on by itself.
    """
    run = booking.booking_run(
        rider_id=rider_id,
        origin_latitude=origin_latitude,
        origin_longitude=origin_longitude,
        destination_latitude=destination_latitude,
        destination_longitude=destination_longitude,
    )
    return booking.booking_trip_or_refusal(run)


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
    cancelled_at = _trip_end_early(
        trip, TripStatus.CANCELLED, reason=reason, note=note, cancelled_by=cancelled_by
    )
    publish(
        TripCancelled(
            trip_id=trip.id,
            rider_id=trip.rider_id,
            reason=reason,
            cancelled_by=cancelled_by,
            cancelled_at=cancelled_at,
        )
    )
    return trip


def _trip_end_early(
    trip: Trip, status: str, *, reason: str, note: str, cancelled_by: str
) -> datetime:
    """Record a trip that ended before it completed (cancelled or interrupted), in the fields
    both share; when it ended."""
    ended_at = timezone.now()
    trip.status = status
    trip.cancelled_at = ended_at
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
    return ended_at


@module_atomic("trips")
def trip_interrupt(*, trip_id: UUID, note: str) -> Trip:
    """The trip's vehicle went offline: the trip ends where it stands and the rider owes nothing.

    From assigned (the rider was not picked up yet) or in progress. Recorded in the fields of
    a trip that ended early: ``cancelled_at``, ``cancel_reason`` ``vehicle_issue``, ``note``
    saying what happened, ``cancelled_by`` empty (no person called it off). Publishes
    ``TripInterrupted`` (billing gives the rider's booking credit back), then frees the
    offline vehicle from the trip, last, as ``trip_complete`` does.
    """
    trip = _trip_lock(trip_id=trip_id)
    TRIP_LIFECYCLE.check(trip.status, TripStatus.INTERRUPTED)
    if trip.vehicle_id is None:
        raise TripNotInProgress(f"Trip {trip.id} has no vehicle that could have stopped.")
    interrupted_at = _trip_end_early(
        trip,
        TripStatus.INTERRUPTED,
        reason=CancelReason.VEHICLE_ISSUE,
        note=note.strip()[:CANCEL_NOTE_MAX_LENGTH],
        cancelled_by="",
    )
    publish(
        TripInterrupted(
            trip_id=trip.id,
            rider_id=trip.rider_id,
            vehicle_id=trip.vehicle_id,
            started_at=trip.started_at,
            interrupted_at=interrupted_at,
            reason=trip.cancel_note,
        )
    )
    # The vehicle stays offline, no longer held by the trip; staff bring it back. Released
    # last, like trip_complete: a refusal here rolls the interruption back.
    vehicles_api.vehicle_release(vehicle_id=trip.vehicle_id, trip_id=trip.id)
    return trip
