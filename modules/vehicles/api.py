"""Front door of the vehicles module: the only thing other modules may import from it.

Functions take and return small frozen dataclasses, never model instances or querysets.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from modules.vehicles import selectors, services
from modules.vehicles.errors import NoVehicleAvailable, VehicleHeldByTrip, VehicleNotFound
from modules.vehicles.models import Vehicle
from modules.vehicles.vin import vin_check_digit
from monolith.platform.interservice import api_read

__all__ = [
    "NoVehicleAvailable",
    "VehicleHeldByTrip",
    "VehicleNotFound",
    "VehicleSummary",
    "vehicle_end_trip",
    "vehicle_find_by_vin",
    "vehicle_get",
    "vehicle_register",
    "vehicle_release",
    "vehicle_release_for_trip",
    "vehicle_reserve_for_trip",
    "vehicle_reserve_nearest",
    "vehicle_start_trip",
    "vehicle_status_change",
    "vin_complete",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleSummary:
    id: UUID
    vin: str
    make: str
    model: str
    seats: int
    status: str
    odometer_km: Decimal
    battery_pct: int
    latitude: Decimal | None
    longitude: Decimal | None
    firmware_version: str | None
    last_heartbeat_at: datetime | None
    current_trip_id: UUID | None  # the trip holding the vehicle, while reserved or in it


def _summary(vehicle: Vehicle) -> VehicleSummary:
    return VehicleSummary(
        id=vehicle.id,
        vin=vehicle.vin,
        make=vehicle.make,
        model=vehicle.model,
        seats=vehicle.seats,
        status=vehicle.status,
        odometer_km=vehicle.odometer_km,
        battery_pct=vehicle.battery_pct,
        latitude=vehicle.latitude,
        longitude=vehicle.longitude,
        firmware_version=vehicle.firmware.version if vehicle.firmware is not None else None,
        last_heartbeat_at=vehicle.last_heartbeat_at,
        current_trip_id=vehicle.current_trip_id,
    )


def vehicle_register(
    *,
    vin: str,
    make: str,
    model: str,
    seats: int,
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    battery_pct: int = 100,
) -> VehicleSummary:
    """Add a vehicle to the fleet as ``available``; raises ``InvalidRequest`` for a bad VIN."""
    vehicle = services.vehicle_register(
        vin=vin,
        make=make,
        model=model,
        seats=seats,
        latitude=latitude,
        longitude=longitude,
        battery_pct=battery_pct,
    )
    return _summary(vehicle)


@api_read
def vehicle_get(*, vehicle_id: UUID) -> VehicleSummary:
    """The vehicle with this id; raises ``VehicleNotFound``."""
    return _summary(selectors.vehicle_get(vehicle_id=vehicle_id))


@api_read
def vin_complete(vin: str) -> str:
    """``vin`` with its check digit (position 9) filled in, for generated fleets and tests."""
    vin = vin.strip().upper()
    return vin[:8] + vin_check_digit(vin) + vin[9:]


@api_read
def vehicle_find_by_vin(*, vin: str) -> VehicleSummary | None:
    """The vehicle with this VIN (any case), or ``None`` when the fleet has none."""
    vehicle = selectors.vehicle_list().filter(vin=vin.strip().upper()).first()
    return _summary(vehicle) if vehicle is not None else None


def vehicle_status_change(*, vehicle_id: UUID, status: str, reason: str = "") -> VehicleSummary:
    """Move a vehicle to ``status`` by hand (for example ``offline`` when it stops answering).

    Only manual steps among available, charging, maintenance and offline are allowed, plus
    taking a reserved or travelling vehicle offline; ``reserved`` and ``in_trip`` are reached
    only through a trip. Raises ``IllegalTransition`` when the lifecycle forbids the step,
    ``VehicleHeldByTrip`` (naming the trip) for anything but ``offline`` on a vehicle a trip
    holds, ``InvalidRequest`` for an unknown status and ``VehicleNotFound``.
    """
    return _summary(
        services.vehicle_transition(vehicle_id=vehicle_id, status=status, reason=reason)
    )


def vehicle_reserve_nearest(
    *, latitude: Decimal, longitude: Decimal, seats: int = 1, trip_id: UUID
) -> VehicleSummary:
    """Reserve the nearest available vehicle with enough seats and charge for trip ``trip_id``.

    Moves it from ``available`` to ``reserved`` and records the trip as its holder; raises
    ``NoVehicleAvailable`` when none fits and ``VehicleHeldByTrip`` when the trip already holds
    a vehicle. Safe under concurrency: two callers never reserve the same vehicle.
    """
    return _summary(
        services.vehicle_reserve_nearest(
            latitude=latitude, longitude=longitude, seats=seats, trip_id=trip_id
        )
    )


def vehicle_reserve_for_trip(
    *, trip_id: UUID, latitude: Decimal, longitude: Decimal, seats: int = 1
) -> VehicleSummary:
    """The vehicle trip ``trip_id`` holds, or else the nearest available one, reserved for it.

    Idempotent per trip, for callers that may repeat the step (a booking resumed after a
    crash): the second call returns the first call's vehicle and changes nothing. Raises
    ``NoVehicleAvailable`` when the trip holds none and none fits.
    """
    return _summary(
        services.vehicle_reserve_for_trip(
            trip_id=trip_id, latitude=latitude, longitude=longitude, seats=seats
        )
    )


def vehicle_release_for_trip(*, trip_id: UUID) -> VehicleSummary | None:
    """Trip ``trip_id`` gives back whatever vehicle it holds; ``None`` when it holds none.

    Idempotent, for a caller that may not know which vehicle was reserved (a booking undone
    after a crash). Raises ``IllegalTransition`` (409) for a vehicle already in the trip.
    """
    vehicle = services.vehicle_release_for_trip(trip_id=trip_id)
    return None if vehicle is None else _summary(vehicle)


def vehicle_release(*, vehicle_id: UUID, trip_id: UUID) -> VehicleSummary:
    """Trip ``trip_id`` gives its reservation back (``reserved`` to ``available``).

    A no-op when the trip does not hold the vehicle (already released, say). A vehicle that
    went offline while reserved stays offline, no longer held. Raises ``IllegalTransition``
    (409) for a vehicle already in the trip: a started trip ends rather than releases.
    """
    return _summary(services.vehicle_release(vehicle_id=vehicle_id, trip_id=trip_id))


def vehicle_start_trip(*, vehicle_id: UUID, trip_id: UUID) -> VehicleSummary:
    """The vehicle reserved for ``trip_id`` sets off (``reserved`` to ``in_trip``).

    Raises ``VehicleHeldByTrip`` (409, naming the holder) unless ``trip_id`` holds the vehicle,
    ``IllegalTransition`` (409) unless it is reserved, ``VehicleNotFound`` for a bad id.
    """
    return _summary(services.vehicle_start_trip(vehicle_id=vehicle_id, trip_id=trip_id))


def vehicle_end_trip(*, vehicle_id: UUID, trip_id: UUID, distance_km: Decimal) -> VehicleSummary:
    """Trip ``trip_id`` is over (``in_trip`` to ``available``); the odometer grows by the distance.

    A vehicle that went offline during the trip stays offline, its odometer grown and no
    longer held. Raises ``VehicleHeldByTrip`` (409) unless ``trip_id`` holds the vehicle,
    ``IllegalTransition`` (409) for a vehicle only reserved, and ``InvalidRequest`` for a
    negative distance.
    """
    return _summary(
        services.vehicle_end_trip(vehicle_id=vehicle_id, trip_id=trip_id, distance_km=distance_km)
    )
