"""Fixtures for the trips tests: vehicles registered through the vehicles module's front door."""

import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from modules.trips import services
from modules.trips.events import TripCompleted
from modules.trips.models import Trip
from modules.vehicles import api as vehicles_api
from monolith.platform.events import subscriptions_only

# Berlin, Alexanderplatz, and a short ride away.
ORIGIN = {"origin_latitude": Decimal("52.521918"), "origin_longitude": Decimal("13.413215")}
DESTINATION = {
    "destination_latitude": Decimal("52.516275"),
    "destination_longitude": Decimal("13.377704"),
}
ROUTE = {**ORIGIN, **DESTINATION}

_serials: Iterator[int] = itertools.count(1)


def valid_vin(serial: int) -> str:
    return vehicles_api.vin_complete(f"1M8GDM9A0KP{serial:06d}")


@pytest.fixture(autouse=True)
def no_other_trip_completed_subscribers() -> Iterator[None]:
    """Keep other modules' ``TripCompleted`` handlers (billing's invoicing) out of these tests.

    Trips does not depend on billing; billing tests its own handler. A test may subscribe its
    own recorder; it is gone again after the test.
    """
    with subscriptions_only(TripCompleted):
        yield


@pytest.fixture
def make_vehicle(db: Any) -> Callable[..., vehicles_api.VehicleSummary]:
    """Register an available vehicle near the standard origin."""

    def make(**fields: Any) -> vehicles_api.VehicleSummary:
        defaults: dict[str, Any] = {
            "vin": valid_vin(next(_serials)),
            "make": "Zoox",
            "model": "Robotaxi",
            "seats": 4,
            "latitude": Decimal("52.520000"),
            "longitude": Decimal("13.405000"),
            "battery_pct": 100,
        }
        return vehicles_api.vehicle_register(**{**defaults, **fields})

    return make


@pytest.fixture
def vehicle(make_vehicle: Callable[..., vehicles_api.VehicleSummary]) -> Any:
    return make_vehicle()


@pytest.fixture
def assigned_trip(rider: Any, vehicle: Any) -> Trip:
    return services.trip_request(rider_id=rider.id, **ROUTE)


@pytest.fixture
def running_trip(assigned_trip: Trip) -> Trip:
    return services.trip_start(trip_id=assigned_trip.id)


@pytest.fixture
def other_riders_trip(other_rider: Any, make_vehicle: Callable[..., Any]) -> Trip:
    make_vehicle()
    return services.trip_request(rider_id=other_rider.id, **ROUTE)
