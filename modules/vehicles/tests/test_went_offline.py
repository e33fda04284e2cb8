"""Going offline is published as ``VehicleWentOffline``, naming the trip that holds the vehicle.

Going offline never frees a vehicle from its trip: the trip hears of it and gives it back.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from modules.vehicles import services
from modules.vehicles.errors import VehicleHeldByTrip
from modules.vehicles.events import VehicleStatusChanged, VehicleWentOffline
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import Vehicle
from monolith.platform.outbox.machinery import outbox_published

pytestmark = pytest.mark.django_db


def _offline_by_service(vehicle: Vehicle, staff: Any, client_for: Any) -> None:
    services.vehicle_transition(vehicle_id=vehicle.id, status="offline", reason="lidar fault")


def _offline_by_rest(vehicle: Vehicle, staff: Any, client_for: Any) -> None:
    response = client_for(staff).post(
        f"/api/v1/vehicles/{vehicle.id}/transitions/",
        {"status": "offline", "reason": "lidar fault"},
    )
    assert response.status_code == 200, response.content


def _offline_by_admin(vehicle: Vehicle, staff: Any, client_for: Any) -> None:
    client = Client()
    client.force_login(staff)
    response = client.post(
        "/admin/vehicles/vehicle/",
        {"action": "mark_offline", "_selected_action": [str(vehicle.id)]},
    )
    assert response.status_code == 302


ROUTES = {"service": _offline_by_service, "rest": _offline_by_rest, "admin": _offline_by_admin}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("held_in", [VehicleStatus.RESERVED, VehicleStatus.IN_TRIP])
def test_a_held_vehicle_goes_offline_still_held_and_names_its_trip(
    make_vehicle: Callable[..., Vehicle], staff: Any, client_for: Any, route: str, held_in: str
) -> None:
    vehicle = make_vehicle(held_in)
    trip_id = vehicle.current_trip_id
    assert trip_id is not None

    ROUTES[route](vehicle, staff, client_for)

    vehicle.refresh_from_db()
    assert (vehicle.status, vehicle.current_trip_id) == (VehicleStatus.OFFLINE, trip_id)
    (event,) = outbox_published("vehicles", VehicleWentOffline)
    assert (event.vehicle_id, event.trip_id, event.from_status) == (vehicle.id, trip_id, held_in)
    assert event.went_offline_at == vehicle.updated_at
    if route != "admin":
        assert event.reason == "lidar fault"
    # The generic status change is published as before.
    assert outbox_published("vehicles", VehicleStatusChanged)[-1].to_status == "offline"
    # Staff cannot bring it back while the trip holds it.
    with pytest.raises(VehicleHeldByTrip):
        services.vehicle_transition(vehicle_id=vehicle.id, status="available")


def test_a_free_vehicle_going_offline_names_no_trip(make_vehicle: Callable[..., Vehicle]) -> None:
    vehicle = make_vehicle(VehicleStatus.CHARGING)
    services.vehicle_transition(vehicle_id=vehicle.id, status="offline")
    (event,) = outbox_published("vehicles", VehicleWentOffline)
    assert (event.trip_id, event.from_status, event.reason) == (None, "charging", "")


def test_other_status_changes_publish_no_went_offline(
    make_vehicle: Callable[..., Vehicle],
) -> None:
    vehicle = make_vehicle()
    services.vehicle_transition(vehicle_id=vehicle.id, status="maintenance")
    services.vehicle_transition(vehicle_id=vehicle.id, status="available")
    assert outbox_published("vehicles", VehicleWentOffline) == []
