"""The trip lifecycle: every allowed status change, in one table.

Services check it before changing a trip's status, so the REST API, the admin and other
modules all obey the same rules.
"""

from modules.trips.models import TripStatus
from monolith.platform.lifecycle import Lifecycle

TRIP_LIFECYCLE = Lifecycle(
    subject="trip",
    transitions={
        TripStatus.REQUESTED: {TripStatus.ASSIGNED, TripStatus.CANCELLED},
        # Interrupted: the vehicle went offline, before the pick-up or during the ride
        # (``trip_interrupt``, on the vehicles module's ``VehicleWentOffline``).
        TripStatus.ASSIGNED: {TripStatus.IN_PROGRESS, TripStatus.CANCELLED, TripStatus.INTERRUPTED},
        TripStatus.IN_PROGRESS: {TripStatus.COMPLETED, TripStatus.INTERRUPTED},
        TripStatus.COMPLETED: set(),
        TripStatus.CANCELLED: set(),
        TripStatus.INTERRUPTED: set(),
    },
)
