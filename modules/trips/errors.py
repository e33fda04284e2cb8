"""The trips module's domain errors; ``api.py`` re-exports them for other modules."""

from monolith.platform.errors import Conflict, NotFound


class TripNotFound(NotFound):
    code = "trip_not_found"


class ActiveTripExists(Conflict):
    """The rider already has a trip that is requested, assigned or in progress."""

    code = "active_trip_exists"


class TripNotInProgress(Conflict):
    """Positions are accepted only while the trip is under way."""

    code = "trip_not_in_progress"
