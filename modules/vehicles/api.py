"""Front door of the vehicles module: the only thing other modules may import from it.

Functions take and return small frozen dataclasses, never model instances or querysets.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from monolith.platform.errors import Conflict, NotFound


class VehicleNotFound(NotFound):
    code = "vehicle_not_found"


class NoVehicleAvailable(Conflict):
    code = "no_vehicle_available"


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
    raise NotImplementedError


def vehicle_get(*, vehicle_id: UUID) -> VehicleSummary:
    """The vehicle with this id; raises ``VehicleNotFound``."""
    raise NotImplementedError


def vehicle_reserve_nearest(
    *, latitude: Decimal, longitude: Decimal, seats: int = 1
) -> VehicleSummary:
    """Reserve the nearest available vehicle with enough seats and charge for a trip.

    Moves it from ``available`` to ``reserved``; raises ``NoVehicleAvailable`` when none fits.
    Safe under concurrency: two callers never reserve the same vehicle.
    """
    raise NotImplementedError


def vehicle_release(*, vehicle_id: UUID) -> VehicleSummary:
    """Give back a reservation (``reserved`` to ``available``); a no-op if already available."""
    raise NotImplementedError


def vehicle_start_trip(*, vehicle_id: UUID) -> VehicleSummary:
    """The reserved vehicle sets off (``reserved`` to ``in_trip``)."""
    raise NotImplementedError


def vehicle_end_trip(*, vehicle_id: UUID, distance_km: Decimal) -> VehicleSummary:
    """The trip is over (``in_trip`` to ``available``); the odometer grows by ``distance_km``."""
    raise NotImplementedError
