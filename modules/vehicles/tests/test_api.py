"""The module's front door, as other modules call it."""

import dataclasses
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from modules.vehicles import api, services
from modules.vehicles.models import Vehicle
from modules.vehicles.tests.conftest import make_vin
from monolith.platform.errors import IllegalTransition, InvalidRequest

pytestmark = pytest.mark.django_db

MakeVehicle = Callable[..., Vehicle]


def test_register_returns_a_frozen_summary() -> None:
    summary = api.vehicle_register(
        vin=make_vin(501),
        make="Waymo",
        model="Jaguar",
        seats=4,
        latitude=Decimal("37.77"),
        longitude=Decimal("-122.42"),
        battery_pct=90,
    )
    assert isinstance(summary, api.VehicleSummary)
    assert summary.status == "available"
    assert summary.battery_pct == 90
    assert summary.firmware_version is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.status = "offline"  # type: ignore[misc]


def test_register_refuses_bad_vin() -> None:
    with pytest.raises(InvalidRequest):
        api.vehicle_register(vin="NOTAVIN", make="A", model="B", seats=2)


def test_get_includes_firmware(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle()
    services.firmware_release_create(version="3.1.0")
    services.vehicle_firmware_assign(vehicle_id=vehicle.id, version="3.1.0")
    summary = api.vehicle_get(vehicle_id=vehicle.id)
    assert summary.id == vehicle.id
    assert summary.vin == vehicle.vin
    assert summary.firmware_version == "3.1.0"


def test_get_unknown_vehicle() -> None:
    with pytest.raises(api.VehicleNotFound) as caught:
        api.vehicle_get(vehicle_id=uuid.uuid4())
    assert caught.value.status == 404


def test_trip_round_trip(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(latitude=Decimal("1.0"), longitude=Decimal("1.0"))
    reserved = api.vehicle_reserve_nearest(latitude=Decimal("1.1"), longitude=Decimal("1.1"))
    assert (reserved.id, reserved.status) == (vehicle.id, "reserved")
    assert api.vehicle_start_trip(vehicle_id=vehicle.id).status == "in_trip"
    ended = api.vehicle_end_trip(vehicle_id=vehicle.id, distance_km=Decimal("7.5"))
    assert (ended.status, ended.odometer_km) == ("available", Decimal("7.50"))


def test_reserve_when_nothing_fits(make_vehicle: MakeVehicle) -> None:
    make_vehicle(seats=2)
    with pytest.raises(api.NoVehicleAvailable) as caught:
        api.vehicle_reserve_nearest(latitude=Decimal(0), longitude=Decimal(0), seats=5)
    assert caught.value.status == 409


def test_release(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(status="reserved")
    assert api.vehicle_release(vehicle_id=vehicle.id).status == "available"
    assert api.vehicle_release(vehicle_id=vehicle.id).status == "available"


def test_start_trip_of_available_vehicle_is_illegal(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle()
    with pytest.raises(IllegalTransition):
        api.vehicle_start_trip(vehicle_id=vehicle.id)
