"""Fixtures for the trips tests: vehicles registered through the vehicles module's front door."""

import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from modules.trips import api as trips_api
from modules.trips import services
from modules.trips.events import TripCompleted
from modules.trips.models import BookingSaga, Trip
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.events import subscriptions_only

# Berlin, Alexanderplatz, and a short ride away.
ORIGIN = {"origin_latitude": Decimal("52.521918"), "origin_longitude": Decimal("13.413215")}
DESTINATION = {
    "destination_latitude": Decimal("52.516275"),
    "destination_longitude": Decimal("13.377704"),
}
ROUTE = {**ORIGIN, **DESTINATION}
# The route, for calls that take other keyword arguments besides it.
ROUTE_ARGS: dict[str, Any] = dict(ROUTE)

_serials: Iterator[int] = itertools.count(1)
# Riders in these tests can pay for this many bookings at once.
BOOKINGS_FUNDED = 3


def credit_for(user: Any, *, bookings: int = BOOKINGS_FUNDED) -> None:
    """Give the rider the credit ``bookings`` bookings hold, as a paid top-up would."""
    users_api.credit_top_up(
        rider_id=user.id,
        amount=trips_api.booking_credit_amount() * bookings,
        reference=f"trips-tests-{next(_serials)}",
    )


def hold_id_of(saga: BookingSaga) -> UUID:
    """The booking's credit hold, which the test expects it to have placed."""
    assert saga.hold_id is not None
    return saga.hold_id


@pytest.fixture
def rider(rider: Any) -> Any:
    """The root fixture's rider, with credit for a few bookings."""
    credit_for(rider)
    return rider


@pytest.fixture
def other_rider(other_rider: Any) -> Any:
    credit_for(other_rider)
    return other_rider


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
