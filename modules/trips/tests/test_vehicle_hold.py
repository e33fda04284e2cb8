"""A trip holds its vehicle until it ends: nobody can hand the vehicle to another trip.

The reviewer's double booking: trip A is under way; staff mark its vehicle available; trip B
books and starts it; completing A then frees the vehicle while B is still running.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from modules.trips import services
from modules.trips.models import Trip, TripStatus
from modules.trips.tests.conftest import ROUTE
from modules.vehicles import api as vehicles_api
from monolith.platform.errors import Conflict, IllegalTransition

pytestmark = pytest.mark.django_db


def _make_available_via_api(vehicle_id: Any, staff: Any, client_for: Any) -> str:
    try:
        vehicles_api.vehicle_status_change(vehicle_id=vehicle_id, status="available")
    except Conflict as exc:
        return exc.message
    return ""


def _make_available_via_rest(vehicle_id: Any, staff: Any, client_for: Any) -> str:
    response = client_for(staff).post(
        f"/api/v1/vehicles/{vehicle_id}/transitions/", {"status": "available"}
    )
    assert response.status_code in {200, 409}
    return str(response.json().get("detail", "")) if response.status_code == 409 else ""


def _make_available_via_admin(vehicle_id: Any, staff: Any, client_for: Any) -> str:
    client = Client()
    client.force_login(staff)
    response = client.post(
        "/admin/vehicles/vehicle/",
        {"action": "mark_available", "_selected_action": [str(vehicle_id)]},
        follow=True,
    )
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    return " ".join(warnings)


MANUAL_ROUTES = {
    "api": _make_available_via_api,
    "rest": _make_available_via_rest,
    "admin": _make_available_via_admin,
}


@pytest.mark.parametrize("route", list(MANUAL_ROUTES))
def test_the_vehicle_of_a_running_trip_cannot_be_booked_again(
    running_trip: Trip,
    other_rider: Any,
    staff: Any,
    client_for: Callable[[Any], Any],
    route: str,
) -> None:
    assert running_trip.vehicle_id is not None

    refusal = MANUAL_ROUTES[route](running_trip.vehicle_id, staff, client_for)

    assert f"held by trip {running_trip.id}" in refusal
    vehicle = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("in_trip", running_trip.id)
    with pytest.raises(vehicles_api.NoVehicleAvailable):
        services.trip_request(rider_id=other_rider.id, **ROUTE)

    services.trip_complete(trip_id=running_trip.id, distance_km=Decimal("3"), duration_seconds=60)
    second = services.trip_request(rider_id=other_rider.id, **ROUTE)
    services.trip_start(trip_id=second.id)

    assert second.vehicle_id == running_trip.vehicle_id
    vehicle = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("in_trip", second.id)


def test_a_vehicle_assigned_to_a_trip_cannot_be_made_available(assigned_trip: Trip) -> None:
    assert assigned_trip.vehicle_id is not None

    with pytest.raises(vehicles_api.VehicleHeldByTrip) as caught:
        vehicles_api.vehicle_status_change(vehicle_id=assigned_trip.vehicle_id, status="available")

    assert str(assigned_trip.id) in caught.value.message
    vehicle = vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("reserved", assigned_trip.id)


def test_a_vehicle_offline_during_its_trip_stays_offline_when_the_trip_completes(
    running_trip: Trip,
) -> None:
    assert running_trip.vehicle_id is not None
    before = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    vehicles_api.vehicle_status_change(
        vehicle_id=running_trip.vehicle_id, status="offline", reason="lost contact"
    )
    with pytest.raises(vehicles_api.VehicleHeldByTrip):
        vehicles_api.vehicle_status_change(vehicle_id=running_trip.vehicle_id, status="available")

    trip = services.trip_complete(
        trip_id=running_trip.id, distance_km=Decimal("9.75"), duration_seconds=900
    )

    assert trip.status == TripStatus.COMPLETED
    after = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    assert after.status == "offline"
    assert after.current_trip_id is None
    assert after.odometer_km == before.odometer_km + Decimal("9.75")
    # Free of the trip, staff bring it back by hand once it answers again.
    back = vehicles_api.vehicle_status_change(vehicle_id=after.id, status="available")
    assert back.status == "available"


def test_a_trip_whose_vehicle_went_offline_cannot_start(assigned_trip: Trip) -> None:
    assert assigned_trip.vehicle_id is not None
    vehicles_api.vehicle_status_change(vehicle_id=assigned_trip.vehicle_id, status="offline")

    with pytest.raises(IllegalTransition) as caught:
        services.trip_start(trip_id=assigned_trip.id)

    assert "'offline' to 'in_trip'" in caught.value.message
    assigned_trip.refresh_from_db()
    assert assigned_trip.status == TripStatus.ASSIGNED


def test_completing_through_rest_after_offline_keeps_the_vehicle_offline(
    running_trip: Trip, staff: Any, client_for: Callable[[Any], Any]
) -> None:
    assert running_trip.vehicle_id is not None
    client = client_for(staff)
    offline = client.post(
        f"/api/v1/vehicles/{running_trip.vehicle_id}/transitions/", {"status": "offline"}
    )
    assert offline.status_code == 200

    response = client.post(
        f"/api/v1/trips/{running_trip.id}/complete/",
        {"distance_km": "4.20", "duration_seconds": 600},
    )

    assert response.status_code == 200, response.json()
    vehicle = client.get(f"/api/v1/vehicles/{running_trip.vehicle_id}/").json()
    assert (vehicle["status"], vehicle["current_trip_id"]) == ("offline", None)
    assert vehicle["odometer_km"] == "4.20"
