"""The vehicle status lifecycle: the states and the only steps allowed between them.

This table is the single source of truth; services consult it before every status change,
so the REST API, the admin and other modules all obey the same rules.
"""

from django.db import models

from monolith.platform.errors import IllegalTransition


class VehicleStatus(models.TextChoices):
    # Labels are the values: staff read and type the same words in the admin and the API.
    AVAILABLE = "available", "available"
    RESERVED = "reserved", "reserved"
    IN_TRIP = "in_trip", "in_trip"
    CHARGING = "charging", "charging"
    MAINTENANCE = "maintenance", "maintenance"
    OFFLINE = "offline", "offline"


ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    VehicleStatus.AVAILABLE: frozenset(
        {
            VehicleStatus.RESERVED,
            VehicleStatus.CHARGING,
            VehicleStatus.MAINTENANCE,
            VehicleStatus.OFFLINE,
        }
    ),
    VehicleStatus.RESERVED: frozenset(
        {VehicleStatus.AVAILABLE, VehicleStatus.IN_TRIP, VehicleStatus.OFFLINE}
    ),
    VehicleStatus.IN_TRIP: frozenset({VehicleStatus.AVAILABLE, VehicleStatus.OFFLINE}),
    VehicleStatus.CHARGING: frozenset(
        {VehicleStatus.AVAILABLE, VehicleStatus.MAINTENANCE, VehicleStatus.OFFLINE}
    ),
    VehicleStatus.MAINTENANCE: frozenset({VehicleStatus.AVAILABLE, VehicleStatus.OFFLINE}),
    VehicleStatus.OFFLINE: frozenset({VehicleStatus.AVAILABLE, VehicleStatus.MAINTENANCE}),
}


def transition_allowed(current: str, wanted: str) -> bool:
    return wanted in ALLOWED_TRANSITIONS.get(current, frozenset())


def transition_check(current: str, wanted: str) -> None:
    """Raise ``IllegalTransition`` naming both states unless ``current`` may become ``wanted``."""
    # str() turns a VehicleStatus member into its plain value, so messages read 'in_trip'.
    current, wanted = str(current), str(wanted)
    if transition_allowed(current, wanted):
        return
    allowed = sorted(ALLOWED_TRANSITIONS.get(current, frozenset()))
    raise IllegalTransition(
        f"A vehicle cannot go from {current!r} to {wanted!r}; "
        f"from {current!r} it may go to: {', '.join(allowed) or 'nothing'}.",
        field="status",
    )
