"""Concurrent requests: the database decides, and the loser gets a clean 409."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from modules.trips import services
from modules.trips.api import booking_credit_amount
from modules.trips.errors import ActiveTripExists
from modules.trips.models import Trip, TripStatus
from modules.trips.tests.conftest import ROUTE, credit_for
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
from monolith.platform.registry import module_atomic


@pytest.mark.django_db(transaction=True)
def test_a_request_racing_an_uncommitted_one_is_refused(
    rider: Any, make_vehicle: Callable[..., Any]
) -> None:
    """The booking's own check cannot see the other request's trip; the unique index can.

    The losing booking holds its credit and a vehicle before the index refuses its trip, and
    gives both back.
    """
    first_vehicle, second_vehicle = make_vehicle(), make_vehicle()
    inserted = threading.Event()
    release = threading.Event()
    failures: list[BaseException] = []

    def competing_request() -> None:
        try:
            with module_atomic("trips"):
                services.trip_request(rider_id=rider.id, **ROUTE)
                inserted.set()
                # Hold the transaction open while the main thread makes its request.
                release.wait(timeout=10)
        except BaseException as exc:
            failures.append(exc)
        finally:
            inserted.set()
            connections.close_all()

    competitor = threading.Thread(target=competing_request)
    competitor.start()
    assert inserted.wait(timeout=10)
    threading.Timer(0.5, release.set).start()

    with pytest.raises(ActiveTripExists):
        services.trip_request(rider_id=rider.id, **ROUTE)

    competitor.join(timeout=10)
    assert failures == []
    assert list(Trip.objects.values_list("status", flat=True)) == [TripStatus.ASSIGNED]
    statuses = sorted(
        vehicles_api.vehicle_get(vehicle_id=vehicle.id).status
        for vehicle in (first_vehicle, second_vehicle)
    )
    assert statuses == ["available", "reserved"]
    assert users_api.wallet_get(rider_id=rider.id).held.amount == booking_credit_amount()


@pytest.mark.django_db(transaction=True)
def test_riders_booking_at_once_never_share_a_vehicle(
    make_user: Callable[..., Any],
    make_vehicle: Callable[..., Any],
    run_together: Callable[..., list[Any]],
) -> None:
    """Five riders race for three vehicles: three trips, one vehicle each, two clean 409s.

    The two who lost get their booking credit back.
    """
    vehicles = {make_vehicle().id for _ in range(3)}
    riders = [make_user(f"rider-racer-{n}", Role.RIDER) for n in range(5)]
    for rider in riders:
        credit_for(rider, bookings=1)

    def request_for(rider_id: Any) -> Callable[[], Any]:
        return lambda: services.trip_request(rider_id=rider_id, **ROUTE)

    outcomes = run_together(*(request_for(rider.id) for rider in riders))

    trips = [outcome for outcome in outcomes if isinstance(outcome, Trip)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, Trip)]
    assert len(trips) == 3
    assert {trip.vehicle_id for trip in trips} == vehicles
    assert all(isinstance(outcome, vehicles_api.NoVehicleAvailable) for outcome in refused)
    assert len(refused) == 2
    for trip in trips:
        assert trip.vehicle_id is not None
        held = vehicles_api.vehicle_get(vehicle_id=trip.vehicle_id)
        assert (held.status, held.current_trip_id) == ("reserved", trip.id)
    assert Trip.objects.count() == 3
    booked = {trip.rider_id for trip in trips}
    for rider in riders:
        wallet = users_api.wallet_get(rider_id=rider.id)
        assert wallet.held.amount == (booking_credit_amount() if rider.id in booked else 0)
