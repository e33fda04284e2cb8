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
    trip_id = uuid.uuid4()
    reserved = api.vehicle_reserve_nearest(
        latitude=Decimal("1.1"), longitude=Decimal("1.1"), trip_id=trip_id
    )
    assert (reserved.id, reserved.status, reserved.current_trip_id) == (
        vehicle.id,
        "reserved",
        trip_id,
    )
    started = api.vehicle_start_trip(vehicle_id=vehicle.id, trip_id=trip_id)
    assert (started.status, started.current_trip_id) == ("in_trip", trip_id)
    ended = api.vehicle_end_trip(vehicle_id=vehicle.id, trip_id=trip_id, distance_km=Decimal("7.5"))
    assert (ended.status, ended.odometer_km, ended.current_trip_id) == (
        "available",
        Decimal("7.50"),
        None,
    )


def test_reserve_when_nothing_fits(make_vehicle: MakeVehicle) -> None:
    make_vehicle(seats=2)
    with pytest.raises(api.NoVehicleAvailable) as caught:
        api.vehicle_reserve_nearest(
            latitude=Decimal(0), longitude=Decimal(0), seats=5, trip_id=uuid.uuid4()
        )
    assert caught.value.status == 409


def test_a_trip_reserves_one_vehicle_only(make_vehicle: MakeVehicle) -> None:
    make_vehicle()
    make_vehicle()
    trip_id = uuid.uuid4()
    api.vehicle_reserve_nearest(latitude=Decimal(52), longitude=Decimal(13), trip_id=trip_id)
    with pytest.raises(api.VehicleHeldByTrip) as caught:
        api.vehicle_reserve_nearest(latitude=Decimal(52), longitude=Decimal(13), trip_id=trip_id)
    assert str(trip_id) in caught.value.message
    assert Vehicle.objects.filter(current_trip_id=trip_id).count() == 1


def test_release(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(status="reserved")
    trip_id = vehicle.current_trip_id
    assert trip_id is not None
    released = api.vehicle_release(vehicle_id=vehicle.id, trip_id=trip_id)
    assert (released.status, released.current_trip_id) == ("available", None)
    assert api.vehicle_release(vehicle_id=vehicle.id, trip_id=trip_id).status == "available"


def test_release_by_another_trip_changes_nothing(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(status="reserved")
    summary = api.vehicle_release(vehicle_id=vehicle.id, trip_id=uuid.uuid4())
    assert (summary.status, summary.current_trip_id) == ("reserved", vehicle.current_trip_id)


@pytest.mark.parametrize("step", ["start", "end"])
def test_trip_steps_of_another_trip_are_refused_naming_the_holder(
    make_vehicle: MakeVehicle, step: str
) -> None:
    vehicle = make_vehicle(status="reserved" if step == "start" else "in_trip")
    intruder = uuid.uuid4()
    steps = {
        "start": lambda: api.vehicle_start_trip(vehicle_id=vehicle.id, trip_id=intruder),
        "end": lambda: api.vehicle_end_trip(
            vehicle_id=vehicle.id, trip_id=intruder, distance_km=Decimal(1)
        ),
    }
    with pytest.raises(api.VehicleHeldByTrip) as caught:
        steps[step]()
    assert caught.value.status == 409
    assert f"held by trip {vehicle.current_trip_id}" in caught.value.message
    vehicle.refresh_from_db()
    assert vehicle.odometer_km == 0
    assert vehicle.status == ("reserved" if step == "start" else "in_trip")


def test_start_trip_of_available_vehicle_is_refused(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle()
    with pytest.raises(api.VehicleHeldByTrip, match="held by no trip"):
        api.vehicle_start_trip(vehicle_id=vehicle.id, trip_id=uuid.uuid4())


def test_status_change_refuses_to_free_a_held_vehicle(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(status="in_trip")
    with pytest.raises(api.VehicleHeldByTrip) as caught:
        api.vehicle_status_change(vehicle_id=vehicle.id, status="available")
    assert f"held by trip {vehicle.current_trip_id}" in caught.value.message
    assert api.vehicle_get(vehicle_id=vehicle.id).status == "in_trip"


@pytest.mark.parametrize("wanted", ["reserved", "in_trip"])
def test_status_change_never_enters_a_trip_status(make_vehicle: MakeVehicle, wanted: str) -> None:
    vehicle = make_vehicle()
    with pytest.raises(IllegalTransition, match="by hand"):
        api.vehicle_status_change(vehicle_id=vehicle.id, status=wanted)
    assert api.vehicle_get(vehicle_id=vehicle.id).current_trip_id is None
