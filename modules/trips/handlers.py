"""Reactions of trips to other modules' events."""

import logging

from modules.trips import selectors, services
from modules.trips.errors import BookingPending, TripNotFound
from modules.trips.models import TripStatus
from modules.vehicles.events import VehicleWentOffline

logger = logging.getLogger(__name__)

# A vehicle lost before the pick-up or during the ride ends its trip as interrupted.
INTERRUPTIBLE = frozenset({TripStatus.ASSIGNED, TripStatus.IN_PROGRESS})


def vehicle_went_offline_interrupt_trip(event: VehicleWentOffline) -> None:
    """Interrupt the trip that held the vehicle when it went offline.

    Delivered after the vehicles module committed, possibly late or twice: a trip that has
    ended meanwhile (completed, cancelled, already interrupted) is left as it is, and said so
    in the log. The inbox makes a redelivery of the same event a no-op.
    """
    if event.trip_id is None:
        return
    extra = {"trip": str(event.trip_id), "vehicle": str(event.vehicle_id)}
    try:
        trip = selectors.trip_get(trip_id=event.trip_id)
    except TripNotFound:
        # The vehicle went offline while a booking held it for a trip not created yet.
        booking = selectors.booking_unfinished_for_trip(trip_id=event.trip_id)
        if booking is not None:
            # Retried with backoff: the booking either creates the trip (then interrupted
            # here) or gives the vehicle back.
            raise BookingPending(
                f"The booking of trip {event.trip_id} is still running; try again shortly.",
                booking_id=booking.id,
            ) from None
        logger.info(
            "vehicle %s went offline holding trip %s, which was never booked; nothing to do",
            event.vehicle_id,
            event.trip_id,
            extra=extra,
        )
        return
    if trip.vehicle_id != event.vehicle_id:
        logger.warning(
            "vehicle %s went offline, but trip %s rides with vehicle %s; nothing interrupted",
            event.vehicle_id,
            trip.id,
            trip.vehicle_id,
            extra=extra,
        )
        return
    if trip.status not in INTERRUPTIBLE:
        logger.info(
            "vehicle %s went offline after trip %s was %s; nothing interrupted",
            event.vehicle_id,
            trip.id,
            trip.status,
            extra={**extra, "trip_status": trip.status},
        )
        return
    stage = "during the ride" if trip.status == TripStatus.IN_PROGRESS else "before the pick-up"
    note = f"Vehicle went offline {stage}"
    if event.reason.strip():
        note += f": {event.reason.strip()}"
    services.trip_interrupt(trip_id=trip.id, note=note)
    logger.info("trip %s interrupted: %s", trip.id, note, extra=extra)
