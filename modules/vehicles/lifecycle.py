"""The vehicle status lifecycle: the states, every step between them, and who may take which.

``VEHICLE_LIFECYCLE`` is the single table of steps; services check it before every status
change, so the REST API, the admin and other modules all obey the same rules.

Four of its steps belong to the trip that holds the vehicle (``TRIP_STEPS``: reserve, start,
release, end), taken only through the trip services, which also record the trip on the vehicle.
Everything else in the table is a step staff may take by hand (``MANUAL_LIFECYCLE``): they move
vehicles among available, charging, maintenance and offline, and may take a reserved or
travelling vehicle offline when it stops answering, but never put one into a trip's statuses.
"""

from django.db import models

from monolith.platform.lifecycle import Lifecycle


class VehicleStatus(models.TextChoices):
    # Labels are the values: staff read and type the same words in the admin and the API.
    AVAILABLE = "available", "available"
    RESERVED = "reserved", "reserved"
    IN_TRIP = "in_trip", "in_trip"
    CHARGING = "charging", "charging"
    MAINTENANCE = "maintenance", "maintenance"
    OFFLINE = "offline", "offline"


S = VehicleStatus

VEHICLE_LIFECYCLE = Lifecycle(
    subject="vehicle",
    transitions={
        S.AVAILABLE: {S.RESERVED, S.CHARGING, S.MAINTENANCE, S.OFFLINE},
        S.RESERVED: {S.AVAILABLE, S.IN_TRIP, S.OFFLINE},
        S.IN_TRIP: {S.AVAILABLE, S.OFFLINE},
        S.CHARGING: {S.AVAILABLE, S.MAINTENANCE, S.OFFLINE},
        S.MAINTENANCE: {S.AVAILABLE, S.OFFLINE},
        S.OFFLINE: {S.AVAILABLE, S.MAINTENANCE},
    },
)

# The steps only the trip holding the vehicle takes: reserve, start, release and end.
TRIP_STEPS: frozenset[tuple[str, str]] = frozenset(
    {
        (S.AVAILABLE, S.RESERVED),
        (S.RESERVED, S.IN_TRIP),
        (S.RESERVED, S.AVAILABLE),
        (S.IN_TRIP, S.AVAILABLE),
    }
)

# While a trip holds a vehicle it is in one of these (offline: it stopped answering mid-way).
TRIP_HELD_STATUSES: frozenset[str] = frozenset({S.RESERVED, S.IN_TRIP, S.OFFLINE})

MANUAL_LIFECYCLE = Lifecycle(
    subject="vehicle moved by hand",
    transitions={
        current: {wanted for wanted in steps if (current, wanted) not in TRIP_STEPS}
        for current, steps in VEHICLE_LIFECYCLE.transitions.items()
    },
)
