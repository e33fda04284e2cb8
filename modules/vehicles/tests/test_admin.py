"""The fleet staff's admin pages and bulk actions."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connections, router
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.vehicles import services
from modules.vehicles.admin import VehicleAdmin
from modules.vehicles.models import TelemetryReading, Vehicle, VehicleStatusChange
from modules.vehicles.tests.conftest import make_vin

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/vehicles/vehicle/"
MakeVehicle = Callable[..., Vehicle]


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _messages(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_action_descriptions(staff: Any) -> None:
    request = RequestFactory().get(CHANGELIST)
    request.user = staff
    actions = VehicleAdmin(Vehicle, admin.site).get_actions(request)
    descriptions = {name: entry[2] for name, entry in actions.items() if entry is not None}
    assert descriptions["send_to_maintenance"] == "Send selected vehicles to maintenance"
    assert descriptions["mark_offline"] == "Mark selected vehicles offline"
    assert descriptions["mark_available"] == "Mark selected vehicles available"


def test_changelist_shows_status_filter(staff_client: Client, make_vehicle: MakeVehicle) -> None:
    available = make_vehicle()
    charging = make_vehicle(status="charging")
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "By status" in page
    assert "status__exact=available" in page
    filtered = staff_client.get(CHANGELIST + "?status__exact=available").content.decode()
    assert available.vin in filtered
    assert charging.vin not in filtered


def test_changelist_needs_staff(client_for: Any, rider: Any) -> None:
    client = Client()
    client.force_login(rider)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_send_to_maintenance_reports_changed_and_skipped(
    staff_client: Client, staff: Any, make_vehicle: MakeVehicle
) -> None:
    first = make_vehicle()
    second = make_vehicle(status="charging")
    busy = make_vehicle(status="in_trip")
    response = staff_client.post(
        CHANGELIST,
        {
            "action": "send_to_maintenance",
            "_selected_action": [str(first.id), str(second.id), str(busy.id)],
        },
        follow=True,
    )
    assert response.status_code == 200
    messages = _messages(response)
    assert ("success", "2 vehicles sent to maintenance.") in messages
    warnings = [text for level, text in messages if level == "warning"]
    assert len(warnings) == 1
    assert busy.vin in warnings[0]
    assert "in_trip" in warnings[0]
    assert f"held by trip {busy.current_trip_id}" in warnings[0]
    statuses = dict(Vehicle.objects.values_list("vin", "status"))
    assert statuses == {first.vin: "maintenance", second.vin: "maintenance", busy.vin: "in_trip"}
    changes = VehicleStatusChange.objects.filter(to_status="maintenance")
    assert changes.count() == 2
    assert {change.changed_by_id for change in changes} == {staff.id}
    assert "maintenance" in response.content.decode()


def test_mark_offline_and_available(staff_client: Client, make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(status="charging")
    staff_client.post(CHANGELIST, {"action": "mark_offline", "_selected_action": [str(vehicle.id)]})
    vehicle.refresh_from_db()
    assert vehicle.status == "offline"
    response = staff_client.post(
        CHANGELIST,
        {"action": "mark_available", "_selected_action": [str(vehicle.id)]},
        follow=True,
    )
    vehicle.refresh_from_db()
    assert vehicle.status == "available"
    assert ("success", "1 vehicle marked available.") in _messages(response)


@pytest.mark.parametrize("held_as", ["reserved", "in_trip"])
def test_a_vehicle_a_trip_holds_is_not_made_available(
    staff_client: Client, make_vehicle: MakeVehicle, held_as: str
) -> None:
    """Taken offline it stays the trip's; marking it available is refused, naming the trip."""
    held = make_vehicle(status=held_as)
    free = make_vehicle(status="maintenance")
    staff_client.post(CHANGELIST, {"action": "mark_offline", "_selected_action": [str(held.id)]})
    held.refresh_from_db()
    assert (held.status, held.current_trip_id is not None) == ("offline", True)

    response = staff_client.post(
        CHANGELIST,
        {"action": "mark_available", "_selected_action": [str(held.id), str(free.id)]},
        follow=True,
    )

    messages = _messages(response)
    assert ("success", "1 vehicle marked available.") in messages
    warnings = [text for level, text in messages if level == "warning"]
    assert len(warnings) == 1
    assert held.vin in warnings[0]
    assert f"held by trip {held.current_trip_id}" in warnings[0]
    statuses = dict(Vehicle.objects.values_list("vin", "status"))
    assert statuses == {held.vin: "offline", free.vin: "available"}


def test_action_with_only_illegal_vehicles_only_warns(
    staff_client: Client, make_vehicle: MakeVehicle
) -> None:
    vehicle = make_vehicle()
    response = staff_client.post(
        CHANGELIST,
        {"action": "mark_available", "_selected_action": [str(vehicle.id)]},
        follow=True,
    )
    assert [level for level, _ in _messages(response)] == ["warning"]
    assert not VehicleStatusChange.objects.exists()


def test_change_form_edits_description_not_status(
    staff_client: Client, make_vehicle: MakeVehicle
) -> None:
    vehicle = make_vehicle()
    services.vehicle_transition(vehicle_id=vehicle.id, status="charging")
    url = f"{CHANGELIST}{vehicle.id}/change/"
    page = staff_client.get(url)
    assert page.status_code == 200
    assert "status history" in page.content.decode().lower()
    response = staff_client.post(
        url,
        {
            "make": "Cruise",
            "model": "Origin",
            "seats": 6,
            "status": "offline",
            "odometer_km": "999",
            "status_changes-TOTAL_FORMS": "1",
            "status_changes-INITIAL_FORMS": "1",
            "status_changes-MIN_NUM_FORMS": "0",
            "status_changes-MAX_NUM_FORMS": "1000",
            "status_changes-0-id": str(VehicleStatusChange.objects.get().id),
            "status_changes-0-vehicle": str(vehicle.id),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    vehicle.refresh_from_db()
    assert (vehicle.make, vehicle.model, vehicle.seats) == ("Cruise", "Origin", 6)
    assert vehicle.status == "charging"
    assert vehicle.odometer_km == Decimal("0")


def test_add_form_checks_the_vin(staff_client: Client) -> None:
    form = {
        "make": "Zoox",
        "model": "R1",
        "seats": 4,
        "battery_pct": 100,
        "latitude": "",
        "longitude": "",
        "status_changes-TOTAL_FORMS": "0",
        "status_changes-INITIAL_FORMS": "0",
        "status_changes-MIN_NUM_FORMS": "0",
        "status_changes-MAX_NUM_FORMS": "1000",
    }
    bad = staff_client.post(CHANGELIST + "add/", {**form, "vin": "1M8GDM9A1KP042788"})
    assert bad.status_code == 200
    assert "check digit" in bad.content.decode()
    assert not Vehicle.objects.exists()

    good = staff_client.post(CHANGELIST + "add/", {**form, "vin": make_vin(321).lower()})
    assert good.status_code == 302, good.content.decode()[:2000]
    vehicle = Vehicle.objects.get()
    assert vehicle.vin == make_vin(321)
    assert vehicle.status == "available"


def test_telemetry_admin_is_read_only(staff_client: Client, make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle()
    services.vehicle_telemetry_ingest(
        vehicle_id=vehicle.id,
        readings=[
            services.TelemetryInput(
                recorded_at=timezone.now() - timedelta(minutes=1),
                latitude=Decimal("52.5"),
                longitude=Decimal("13.4"),
                battery_pct=70,
                odometer_km=Decimal("12"),
            )
        ],
    )
    reading = TelemetryReading.objects.get()
    assert staff_client.get("/admin/vehicles/telemetryreading/").status_code == 200
    assert staff_client.get("/admin/vehicles/telemetryreading/add/").status_code == 403
    detail = staff_client.get(f"/admin/vehicles/telemetryreading/{reading.id}/change/")
    assert detail.status_code == 200
    assert 'name="battery_pct"' not in detail.content.decode()
    delete = staff_client.post(f"/admin/vehicles/telemetryreading/{reading.id}/delete/")
    assert delete.status_code == 403


def test_other_admin_pages_load(staff_client: Client, make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle()
    services.firmware_release_create(version="1.0.0")
    services.vehicle_firmware_assign(vehicle_id=vehicle.id, version="1.0.0")
    services.vehicle_transition(vehicle_id=vehicle.id, status="offline")
    for page in ["firmwarerelease", "firmwareinstall", "vehiclestatuschange"]:
        response = staff_client.get(f"/admin/vehicles/{page}/")
        assert response.status_code == 200, page
    assert "1.0.0" in staff_client.get("/admin/vehicles/firmwareinstall/").content.decode()


def test_action_from_status_filter_shows_vehicles_in_their_new_status(
    staff_client: Client, make_vehicle: MakeVehicle
) -> None:
    """Run from "By status: available", the moved vehicles stay visible, now in maintenance."""
    moved = make_vehicle()
    response = staff_client.post(
        CHANGELIST + "?status__exact=available&q=",
        {"action": "send_to_maintenance", "_selected_action": [str(moved.id)]},
    )
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST + "?q="
    page = staff_client.get(response["Location"])
    html = page.content.decode()
    assert "1 vehicle sent to maintenance." in html
    assert moved.vin in html
    assert '<td class="field-status">maintenance</td>' in html


def test_pages_name_who_acted_with_one_account_lookup_per_page(
    staff_client: Client,
    staff: Any,
    make_user: Callable[..., Any],
    make_vehicle: MakeVehicle,
) -> None:
    """Who acted is an account id (accounts may be in another database); pages show usernames."""
    other = make_user("staff-olga", is_staff=True)
    services.firmware_release_create(version="2.0.0")
    vehicles = [make_vehicle() for _ in range(6)]
    for number, vehicle in enumerate(vehicles):
        services.vehicle_transition(
            vehicle_id=vehicle.id,
            status="maintenance",
            changed_by_id=(staff if number % 2 else other).id,
        )
        services.vehicle_firmware_assign(
            vehicle_id=vehicle.id, version="2.0.0", installed_by_id=staff.id
        )
    services.vehicle_transition(vehicle_id=vehicles[0].id, status="offline")

    def account_lookups(page: str) -> int:
        with CaptureQueriesContext(connections[router.db_for_read(get_user_model())]) as captured:
            response = staff_client.get(f"/admin/vehicles/{page}/")
        assert response.status_code == 200
        return sum('"accounts_user"."id" IN (' in query["sql"] for query in captured)

    html = staff_client.get("/admin/vehicles/vehiclestatuschange/").content.decode()
    assert '<td class="field-changed_by">staff-sam</td>' in html
    assert '<td class="field-changed_by">staff-olga</td>' in html
    assert '<td class="field-changed_by">—</td>' in html
    assert account_lookups("vehiclestatuschange") == 1
    assert account_lookups("firmwareinstall") == 1
    installs = staff_client.get("/admin/vehicles/firmwareinstall/").content.decode()
    assert installs.count('<td class="field-installed_by">staff-sam</td>') == 6

    change = VehicleStatusChange.objects.filter(vehicle=vehicles[1], to_status="maintenance")
    detail = staff_client.get(f"/admin/vehicles/vehiclestatuschange/{change.get().id}/change/")
    assert "staff-sam" in detail.content.decode()
    history = staff_client.get(f"{CHANGELIST}{vehicles[0].id}/change/").content.decode()
    assert "staff-olga" in history
