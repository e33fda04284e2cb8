"""Reservations keyed by the trip: repeating the step (a resumed booking) changes nothing."""

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from modules.vehicles import api
from modules.vehicles.models import Vehicle, VehicleStatusChange
from monolith.platform.errors import IllegalTransition, InvalidRequest

MakeVehicle = Callable[..., Vehicle]
BERLIN: dict[str, Any] = {"latitude": Decimal("52.52"), "longitude": Decimal("13.40")}


@pytest.mark.django_db
def test_reserving_again_for_the_same_trip_returns_the_same_vehicle(
    make_vehicle: MakeVehicle,
) -> None:
    nearest, _other = make_vehicle(**BERLIN), make_vehicle(latitude=Decimal("52.60"))
    trip_id = uuid.uuid4()

    first = api.vehicle_reserve_for_trip(trip_id=trip_id, **BERLIN)
    again = api.vehicle_reserve_for_trip(trip_id=trip_id, **BERLIN)

    assert first.id == again.id == nearest.id
    assert (again.status, again.current_trip_id) == ("reserved", trip_id)
    assert Vehicle.objects.filter(current_trip_id=trip_id).count() == 1
    assert VehicleStatusChange.objects.filter(vehicle=nearest, to_status="reserved").count() == 1


@pytest.mark.django_db
def test_reserving_for_a_trip_needs_an_available_vehicle(make_vehicle: MakeVehicle) -> None:
    make_vehicle(status="maintenance")

    with pytest.raises(api.NoVehicleAvailable):
        api.vehicle_reserve_for_trip(trip_id=uuid.uuid4(), **BERLIN)
    with pytest.raises(InvalidRequest) as caught:
        api.vehicle_reserve_for_trip(
            trip_id=uuid.uuid4(), latitude=Decimal(95), longitude=Decimal(0)
        )
    assert caught.value.field == "latitude"


@pytest.mark.django_db
def test_releasing_for_a_trip_frees_its_vehicle_once(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(**BERLIN)
    trip_id = uuid.uuid4()
    api.vehicle_reserve_for_trip(trip_id=trip_id, **BERLIN)

    released = api.vehicle_release_for_trip(trip_id=trip_id)

    assert released is not None
    assert (released.id, released.status, released.current_trip_id) == (
        vehicle.id,
        "available",
        None,
    )
    assert api.vehicle_release_for_trip(trip_id=trip_id) is None
    assert api.vehicle_release_for_trip(trip_id=uuid.uuid4()) is None
    assert VehicleStatusChange.objects.filter(vehicle=vehicle, to_status="available").count() == 1


@pytest.mark.django_db
def test_releasing_for_a_trip_keeps_an_offline_vehicle_offline(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(**BERLIN)
    trip_id = uuid.uuid4()
    api.vehicle_reserve_for_trip(trip_id=trip_id, **BERLIN)
    api.vehicle_status_change(vehicle_id=vehicle.id, status="offline", reason="lost contact")

    released = api.vehicle_release_for_trip(trip_id=trip_id)

    assert released is not None
    assert (released.status, released.current_trip_id) == ("offline", None)


@pytest.mark.django_db
def test_a_vehicle_in_its_trip_is_not_released(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(status="in_trip")
    assert vehicle.current_trip_id is not None

    with pytest.raises(IllegalTransition):
        api.vehicle_release_for_trip(trip_id=vehicle.current_trip_id)

    vehicle.refresh_from_db()
    assert vehicle.status == "in_trip"


@pytest.mark.django_db(transaction=True)
def test_two_runners_reserving_for_one_trip_at_once_share_one_vehicle(
    make_vehicle: MakeVehicle, run_together: Callable[..., list[Any]]
) -> None:
    """Two workers resuming the same booking: the constraint picks one reservation."""
    vehicles = [make_vehicle(**BERLIN) for _ in range(3)]
    trip_id = uuid.uuid4()

    outcomes = run_together(
        *(lambda: api.vehicle_reserve_for_trip(trip_id=trip_id, **BERLIN) for _ in range(3))
    )

    assert all(isinstance(outcome, api.VehicleSummary) for outcome in outcomes), outcomes
    assert len({outcome.id for outcome in outcomes}) == 1
    held = Vehicle.objects.filter(id__in=[v.id for v in vehicles], current_trip_id=trip_id)
    assert held.count() == 1
    assert Vehicle.objects.filter(status="available").count() == 2
