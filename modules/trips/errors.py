"""The trips module's domain errors; ``api.py`` re-exports them for other modules."""

from uuid import UUID

from monolith.platform.errors import Conflict, NotFound, ServiceUnavailable


class TripNotFound(NotFound):
    code = "trip_not_found"


class ActiveTripExists(Conflict):
    """The rider already has a trip that is requested, assigned or in progress."""

    code = "active_trip_exists"


class TripNotInProgress(Conflict):
    """Positions are accepted only while the trip is under way."""

    code = "trip_not_in_progress"


class RiderDeactivated(Conflict):
    """The rider's account was deactivated: no new bookings."""

    code = "rider_deactivated"


class BookingNotFound(NotFound):
    code = "booking_not_found"


class BookingPending(ServiceUnavailable):
    """A booking could not finish now (a module it needs did not answer); it goes on later.

    Nothing is lost: the booking is stored and resumed until it is confirmed or compensated.
    Its state is at ``GET /api/v1/trips/bookings/<id>/``.
    """

    code = "booking_pending"

    def __init__(self, message: str, *, booking_id: UUID) -> None:
        super().__init__(message)
        self.booking_id = booking_id
