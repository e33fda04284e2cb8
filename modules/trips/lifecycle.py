"""The trip lifecycle: every allowed status change, in one table.

Services consult this table before changing a trip's status, so the REST API, the admin and
other modules all obey the same rules.
"""

from collections.abc import Mapping

from modules.trips.models import TripStatus
from monolith.platform.errors import IllegalTransition

TRIP_TRANSITIONS: Mapping[str, frozenset[str]] = {
    TripStatus.REQUESTED: frozenset({TripStatus.ASSIGNED, TripStatus.CANCELLED}),
    TripStatus.ASSIGNED: frozenset({TripStatus.IN_PROGRESS, TripStatus.CANCELLED}),
    TripStatus.IN_PROGRESS: frozenset({TripStatus.COMPLETED, TripStatus.INTERRUPTED}),
    TripStatus.COMPLETED: frozenset(),
    TripStatus.CANCELLED: frozenset(),
    # Reserved for the flow that recovers a trip whose vehicle stopped mid-way.
    TripStatus.INTERRUPTED: frozenset(),
}


def trip_transition_allowed(*, current: str, wanted: str) -> bool:
    return wanted in TRIP_TRANSITIONS.get(current, frozenset())


def trip_transition_check(*, current: str, wanted: str) -> None:
    """Raise ``IllegalTransition`` naming both states unless ``current -> wanted`` is allowed."""
    if not trip_transition_allowed(current=current, wanted=wanted):
        raise IllegalTransition(f"A trip that is {current} cannot become {wanted}.")
