"""The REST API under /api/v1/vehicles/, as fleet staff's tools and partner systems use it."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from modules.vehicles import services
from modules.vehicles.models import TelemetryReading, Vehicle, VehicleStatusChange
from modules.vehicles.tests.conftest import make_vin

pytestmark = pytest.mark.django_db

BASE = "/api/v1/vehicles/"
MakeVehicle = Callable[..., Vehicle]
ClientFor = Callable[[Any], APIClient]


@pytest.fixture
def api(client_for: ClientFor, staff: Any) -> APIClient:
    return client_for(staff)


def a_reading(minutes_ago: float = 1, **fields: Any) -> dict[str, Any]:
    body = {
        "recorded_at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat(),
        "latitude": "52.5",
        "longitude": "13.4",
        "battery_pct": 80,
        "odometer_km": "100.00",
    }
    body.update(fields)
    return body


# (method, path under BASE with {id} for a vehicle, body, success status)
ENDPOINTS = [
    ("get", "", None, 200),
    ("post", "", {"vin": "@vin", "make": "Zoox", "model": "R1", "seats": 4}, 201),
    ("get", "{id}/", None, 200),
    ("patch", "{id}/", {"model": "R2"}, 200),
    ("post", "{id}/transitions/", {"status": "maintenance"}, 200),
    ("get", "{id}/history/", None, 200),
    ("post", "{id}/telemetry/", {"readings": "@readings"}, 200),
    ("get", "summary/", None, 200),
    ("get", "firmware/", None, 200),
    ("post", "firmware/", {"version": "1.0.0"}, 201),
    ("post", "{id}/firmware/", {"version": "0.9.0"}, 200),
]


def _call(client: APIClient, vehicle: Vehicle, method: str, path: str, body: Any) -> Any:
    if isinstance(body, dict):
        body = {
            key: make_vin(900)
            if value == "@vin"
            else [a_reading()]
            if value == "@readings"
            else value
            for key, value in body.items()
        }
    url = BASE + path.format(id=vehicle.id)
    return (
        getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    )


@pytest.mark.parametrize(("method", "path", "body", "ok"), ENDPOINTS)
def test_permission_matrix(
    client_for: ClientFor,
    rider: Any,
    staff: Any,
    make_vehicle: MakeVehicle,
    method: str,
    path: str,
    body: Any,
    ok: int,
) -> None:
    vehicle = make_vehicle()
    services.firmware_release_create(version="0.9.0")

    assert _call(client_for(None), vehicle, method, path, body).status_code == 401
    assert _call(client_for(rider), vehicle, method, path, body).status_code == 403
    response = _call(client_for(staff), vehicle, method, path, body)
    assert response.status_code == ok, response.content


def test_superuser_is_fleet_staff(client_for: ClientFor, make_user: Any) -> None:
    admin = make_user("root", is_superuser=True, is_staff=True)
    assert client_for(admin).get(BASE).status_code == 200


class TestList:
    def test_page_shape(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        services.firmware_release_create(version="1.2.3")
        services.vehicle_firmware_assign(vehicle_id=vehicle.id, version="1.2.3")
        body = api.get(BASE).json()
        assert body["count"] == 1
        row = body["results"][0]
        assert row["id"] == str(vehicle.id)
        assert row["vin"] == vehicle.vin
        assert row["status"] == "available"
        assert row["firmware_version"] == "1.2.3"
        assert row["latitude"] == "52.520000"
        assert row["odometer_km"] == "0.00"
        assert row["current_trip_id"] is None

    def test_filters(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        available = make_vehicle(make="Zoox", battery_pct=90)
        charging = make_vehicle(status="charging", make="Waymo", battery_pct=10)
        offline = make_vehicle(status="offline", make="Waymo", model="Jaguar")
        Vehicle.objects.filter(pk=available.pk).update(last_heartbeat_at=timezone.now())
        services.firmware_release_create(version="2.0.0")
        services.vehicle_firmware_assign(vehicle_id=offline.id, version="2.0.0")

        def vins(query: str) -> set[str]:
            response = api.get(BASE + query)
            assert response.status_code == 200, response.content
            return {row["vin"] for row in response.json()["results"]}

        assert vins("?status=charging&status=offline") == {charging.vin, offline.vin}
        assert vins("?status=available") == {available.vin}
        assert vins("?make=waymo") == {charging.vin, offline.vin}
        assert vins("?model=jaguar") == {offline.vin}
        assert vins("?low_battery=true") == {charging.vin}
        assert vins("?low_battery=false") == {available.vin, offline.vin}
        assert vins("?stale=true") == {charging.vin, offline.vin}
        assert vins("?stale=false") == {available.vin}
        assert vins("?firmware=2.0.0") == {offline.vin}
        assert vins(f"?search={offline.vin[-6:]}") == {offline.vin}
        assert vins("?search=zoo") == {available.vin}

    @pytest.mark.parametrize(
        "query", ["status=flying", "low_battery=maybe", "stale=yes", "low_battery=1"]
    )
    def test_bad_filter_value_is_400_naming_it(self, api: APIClient, query: str) -> None:
        response = api.get(f"{BASE}?{query}")
        assert response.status_code == 400
        assert list(response.json()) == [query.split("=")[0]]

    def test_ordering(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        low = make_vehicle(battery_pct=30)
        high = make_vehicle(battery_pct=90)
        mid = make_vehicle(battery_pct=60)
        rows = api.get(BASE + "?ordering=-battery_pct").json()["results"]
        assert [row["id"] for row in rows] == [str(high.id), str(mid.id), str(low.id)]
        rows = api.get(BASE).json()["results"]
        assert [row["vin"] for row in rows] == sorted([low.vin, high.vin, mid.vin])

    def test_query_count_does_not_grow_with_page_size(
        self,
        api: APIClient,
        make_vehicle: MakeVehicle,
        assert_num_queries_all_databases: Callable[..., Any],
    ) -> None:
        services.firmware_release_create(version="1.0.0")
        services.firmware_release_create(version="1.1.0")
        for index in range(60):
            vehicle = make_vehicle()
            services.vehicle_firmware_assign(
                vehicle_id=vehicle.id, version="1.0.0" if index % 2 else "1.1.0"
            )

        # Token and user, the user's groups, the count, the page.
        with assert_num_queries_all_databases(4):
            small = api.get(BASE + "?page_size=5")
        with assert_num_queries_all_databases(4):
            large = api.get(BASE + "?page_size=50")
        assert len(small.json()["results"]) == 5
        assert len(large.json()["results"]) == 50
        assert large.json()["count"] == 60
        assert {row["firmware_version"] for row in large.json()["results"]} == {"1.0.0", "1.1.0"}


class TestRegister:
    def test_created(self, api: APIClient) -> None:
        response = api.post(
            BASE,
            {
                "vin": make_vin(700).lower(),
                "make": "Zoox",
                "model": "R1",
                "seats": 4,
                "latitude": 52.520006599999,
                "longitude": "13.404954",
                "battery_pct": 77,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["vin"] == make_vin(700)
        assert body["status"] == "available"
        assert body["latitude"] == "52.520007"
        assert body["battery_pct"] == 77
        assert Vehicle.objects.get(pk=body["id"]).make == "Zoox"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"vin": "1M8GDM9A1KP042788"}, "vin"),
            ({"vin": "SHORT"}, "vin"),
            ({"seats": 0}, "seats"),
            ({"seats": 10}, "seats"),
            ({"battery_pct": 101}, "battery_pct"),
            ({"latitude": "90.1", "longitude": "0"}, "latitude"),
            ({"latitude": "10"}, "longitude"),
            ({"make": ""}, "make"),
        ],
    )
    def test_validation_names_the_field(
        self, api: APIClient, change: dict[str, Any], field: str
    ) -> None:
        body = {"vin": make_vin(701), "make": "Zoox", "model": "R1", "seats": 4, **change}
        response = api.post(BASE, body, format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert not Vehicle.objects.exists()

    def test_duplicate_vin(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.post(
            BASE, {"vin": vehicle.vin, "make": "A", "model": "B", "seats": 2}, format="json"
        )
        assert response.status_code == 400
        assert "already registered" in response.json()["vin"][0]


class TestDetail:
    def test_get(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        body = api.get(f"{BASE}{vehicle.id}/").json()
        assert body["vin"] == vehicle.vin

    def test_unknown_is_404(self, api: APIClient) -> None:
        assert api.get(f"{BASE}{uuid.uuid4()}/").status_code == 404
        assert api.patch(f"{BASE}{uuid.uuid4()}/", {"seats": 2}).status_code == 404

    def test_patch_description(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.patch(f"{BASE}{vehicle.id}/", {"make": "Cruise", "seats": 6})
        assert response.status_code == 200
        assert (response.json()["make"], response.json()["seats"]) == ("Cruise", 6)
        vehicle.refresh_from_db()
        assert (vehicle.make, vehicle.model, vehicle.seats) == ("Cruise", "Robotaxi", 6)

    def test_patch_never_changes_status(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.patch(f"{BASE}{vehicle.id}/", {"status": "offline", "make": "X"})
        assert response.status_code == 400
        assert "transitions" in response.json()["status"][0]
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.make) == ("available", "Zoox")

    def test_patch_refuses_other_fields(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.patch(f"{BASE}{vehicle.id}/", {"odometer_km": "1"})
        assert response.status_code == 400
        assert "odometer_km" in response.json()

    def test_patch_bad_seats(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.patch(f"{BASE}{vehicle.id}/", {"seats": 12})
        assert response.status_code == 400
        assert "seats" in response.json()


class TestTransitions:
    def test_legal(self, api: APIClient, staff: Any, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.post(
            f"{BASE}{vehicle.id}/transitions/", {"status": "charging", "reason": "plugged in"}
        )
        assert response.status_code == 200
        assert response.json()["status"] == "charging"
        change = VehicleStatusChange.objects.get(vehicle=vehicle)
        assert (change.to_status, change.reason, change.changed_by_id) == (
            "charging",
            "plugged in",
            staff.id,
        )

    @pytest.mark.parametrize(
        ("current", "wanted"),
        [("maintenance", "charging"), ("available", "reserved"), ("available", "in_trip")],
    )
    def test_illegal_is_409_naming_both_states(
        self, api: APIClient, make_vehicle: MakeVehicle, current: str, wanted: str
    ) -> None:
        """Staff never put a vehicle into a trip's statuses; only a trip does."""
        vehicle = make_vehicle(status=current)
        response = api.post(f"{BASE}{vehicle.id}/transitions/", {"status": wanted})
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "illegal_transition"
        assert f"moved by hand cannot go from '{current}' to '{wanted}'" in body["detail"]
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == (current, None)

    @pytest.mark.parametrize("held_as", ["reserved", "in_trip"])
    def test_a_vehicle_a_trip_holds_cannot_be_made_available(
        self, api: APIClient, make_vehicle: MakeVehicle, held_as: str
    ) -> None:
        vehicle = make_vehicle(status=held_as)
        response = api.post(f"{BASE}{vehicle.id}/transitions/", {"status": "available"})
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "vehicle_held_by_trip"
        assert str(vehicle.current_trip_id) in body["detail"]
        assert str(vehicle.current_trip_id) in body["status"][0]
        vehicle.refresh_from_db()
        assert vehicle.status == held_as

    def test_a_held_vehicle_taken_offline_stays_held(
        self, api: APIClient, make_vehicle: MakeVehicle
    ) -> None:
        vehicle = make_vehicle(status="in_trip")
        offline = api.post(f"{BASE}{vehicle.id}/transitions/", {"status": "offline"})
        assert offline.status_code == 200
        assert offline.json()["current_trip_id"] == str(vehicle.current_trip_id)
        again = api.post(f"{BASE}{vehicle.id}/transitions/", {"status": "available"})
        assert again.status_code == 409
        assert again.json()["code"] == "vehicle_held_by_trip"

    def test_unknown_status_is_400(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.post(f"{BASE}{vehicle.id}/transitions/", {"status": "flying"})
        assert response.status_code == 400
        assert "status" in response.json()

    def test_unknown_vehicle_is_404(self, api: APIClient) -> None:
        response = api.post(f"{BASE}{uuid.uuid4()}/transitions/", {"status": "offline"})
        assert response.status_code == 404


class TestHistory:
    def test_newest_first_and_paginated(
        self, api: APIClient, staff: Any, make_vehicle: MakeVehicle
    ) -> None:
        vehicle = make_vehicle()
        for status in ["maintenance", "offline", "available"]:
            services.vehicle_transition(
                vehicle_id=vehicle.id, status=status, changed_by_id=staff.id
            )
        body = api.get(f"{BASE}{vehicle.id}/history/?page_size=2").json()
        assert body["count"] == 3
        assert [(row["from_status"], row["to_status"]) for row in body["results"]] == [
            ("offline", "available"),
            ("maintenance", "offline"),
        ]
        assert body["results"][0]["changed_by"] == str(staff.id)
        assert body["next"] is not None

    def test_unknown_vehicle_is_404(self, api: APIClient) -> None:
        assert api.get(f"{BASE}{uuid.uuid4()}/history/").status_code == 404


class TestTelemetry:
    def test_accepts_batch(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        readings = [
            a_reading(1, odometer_km="110.5", battery_pct=60),
            a_reading(3, odometer_km="110.0", battery_pct=62, speed_kph="31.4"),
        ]
        response = api.post(f"{BASE}{vehicle.id}/telemetry/", {"readings": readings})
        assert response.status_code == 200, response.content
        assert response.json() == {"accepted": 2}
        vehicle.refresh_from_db()
        assert (vehicle.battery_pct, vehicle.odometer_km) == (60, Decimal("110.50"))
        assert TelemetryReading.objects.filter(vehicle=vehicle).count() == 2

    def test_field_errors_name_the_index(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        readings = [a_reading(), a_reading(battery_pct=130), a_reading(latitude="abc")]
        response = api.post(f"{BASE}{vehicle.id}/telemetry/", {"readings": readings})
        assert response.status_code == 400
        errors = response.json()["readings"]
        assert errors[0] == {}
        assert list(errors[1]) == ["battery_pct"]
        assert list(errors[2]) == ["latitude"]
        assert not TelemetryReading.objects.exists()

    def test_odometer_backwards_is_400_at_the_index(
        self, api: APIClient, make_vehicle: MakeVehicle
    ) -> None:
        vehicle = make_vehicle()
        api.post(f"{BASE}{vehicle.id}/telemetry/", {"readings": [a_reading(odometer_km="200")]})
        response = api.post(
            f"{BASE}{vehicle.id}/telemetry/",
            {"readings": [a_reading(odometer_km="201"), a_reading(odometer_km="150")]},
        )
        assert response.status_code == 400
        errors = response.json()["readings"]
        assert errors[0] == {}
        assert "never goes backwards" in errors[1]["odometer_km"][0]
        assert TelemetryReading.objects.count() == 1

    @pytest.mark.parametrize("count", [0, 501])
    def test_batch_size(self, api: APIClient, make_vehicle: MakeVehicle, count: int) -> None:
        vehicle = make_vehicle()
        response = api.post(f"{BASE}{vehicle.id}/telemetry/", {"readings": [a_reading()] * count})
        assert response.status_code == 400
        assert "readings" in response.json()

    def test_missing_readings(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.post(f"{BASE}{vehicle.id}/telemetry/", {})
        assert response.status_code == 400
        assert "readings" in response.json()

    def test_unknown_vehicle_is_404(self, api: APIClient) -> None:
        response = api.post(f"{BASE}{uuid.uuid4()}/telemetry/", {"readings": [a_reading()]})
        assert response.status_code == 404


def test_summary(api: APIClient, make_vehicle: MakeVehicle) -> None:
    make_vehicle()
    make_vehicle(status="maintenance", battery_pct=3)
    body = api.get(BASE + "summary/").json()
    assert body == {
        "by_status": {
            "available": 1,
            "reserved": 0,
            "in_trip": 0,
            "charging": 0,
            "maintenance": 1,
            "offline": 0,
        },
        "low_battery": 1,
        "stale_heartbeat": 2,
        "total": 2,
    }


class TestFirmware:
    def test_create_and_list(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        response = api.post(BASE + "firmware/", {"version": "1.4.2", "notes": "Lidar fix"})
        assert response.status_code == 201, response.content
        assert response.json()["version"] == "1.4.2"
        assert response.json()["vehicle_count"] == 0
        vehicle = make_vehicle()
        api.post(f"{BASE}{vehicle.id}/firmware/", {"version": "1.4.2"})
        body = api.get(BASE + "firmware/").json()
        assert [(row["version"], row["vehicle_count"]) for row in body["results"]] == [("1.4.2", 1)]

    @pytest.mark.parametrize("version", ["1.4", "latest", ""])
    def test_create_needs_semver(self, api: APIClient, version: str) -> None:
        response = api.post(BASE + "firmware/", {"version": version})
        assert response.status_code == 400
        assert "version" in response.json()

    def test_duplicate_version(self, api: APIClient) -> None:
        api.post(BASE + "firmware/", {"version": "1.0.0"})
        response = api.post(BASE + "firmware/", {"version": "1.0.0"})
        assert response.status_code == 400
        assert "already released" in response.json()["version"][0]

    def test_assign(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        services.firmware_release_create(version="1.4.2")
        response = api.post(f"{BASE}{vehicle.id}/firmware/", {"version": "1.4.2"})
        assert response.status_code == 200
        assert response.json()["firmware_version"] == "1.4.2"

    def test_assign_unknown_version_is_400(self, api: APIClient, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        response = api.post(f"{BASE}{vehicle.id}/firmware/", {"version": "9.9.9"})
        assert response.status_code == 400
        assert "version" in response.json()

    def test_assign_to_unknown_vehicle_is_404(self, api: APIClient) -> None:
        services.firmware_release_create(version="1.4.2")
        response = api.post(f"{BASE}{uuid.uuid4()}/firmware/", {"version": "1.4.2"})
        assert response.status_code == 404


HUGE = [10**40, 1e40, "1e25", "-1e40", "99999999999"]


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("field", ["latitude", "longitude", "seats", "battery_pct"])
def test_register_refuses_huge_numbers_naming_the_field(
    api: APIClient, field: str, value: Any
) -> None:
    body = {
        "vin": make_vin(760),
        "make": "Zoox",
        "model": "R1",
        "seats": 4,
        "latitude": "52.5",
        "longitude": "13.4",
        field: value,
    }
    response = api.post(BASE, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Vehicle.objects.exists()


@pytest.mark.parametrize("value", HUGE)
def test_update_refuses_huge_seats(api: APIClient, make_vehicle: MakeVehicle, value: Any) -> None:
    vehicle = make_vehicle()
    response = api.patch(f"{BASE}{vehicle.id}/", {"seats": value}, format="json")
    assert response.status_code == 400, response.content
    assert "seats" in response.json()


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    "field", ["latitude", "longitude", "battery_pct", "odometer_km", "speed_kph"]
)
def test_telemetry_refuses_huge_numbers_naming_the_field(
    api: APIClient, make_vehicle: MakeVehicle, field: str, value: Any
) -> None:
    vehicle = make_vehicle()
    readings = [a_reading(2), a_reading(1, **{field: value})]
    response = api.post(f"{BASE}{vehicle.id}/telemetry/", {"readings": readings}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["readings"]
    assert errors[0] == {}
    assert list(errors[1]) == [field]
    assert not TelemetryReading.objects.exists()


def test_telemetry_rounds_long_sensor_values(api: APIClient, make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle()
    reading = a_reading(1, odometer_km=110.456000001, speed_kph=31.44999999)
    response = api.post(f"{BASE}{vehicle.id}/telemetry/", {"readings": [reading]}, format="json")
    assert response.status_code == 200, response.content
    stored = TelemetryReading.objects.get()
    assert (stored.odometer_km, stored.speed_kph) == (Decimal("110.46"), Decimal("31.4"))
