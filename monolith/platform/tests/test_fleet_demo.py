"""The demo-data command builds a working fleet through the modules' front doors, once."""

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from modules.billing import api as billing_api
from modules.trips import api as trips_api
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.management.commands.fleet_demo import _vin

SMALL = ["--vehicles", "30", "--riders", "4", "--trips-per-rider", "2"]


def _snapshot() -> dict[str, Any]:
    riders = [users_api.rider_find_by_username(username=f"rider{n:02d}") for n in range(1, 5)]
    assert all(riders)
    trips = {
        rider.username: trips_api.trip_list_for_rider(rider_id=rider.id)
        for rider in riders
        if rider
    }
    return {
        "vehicles": [vehicles_api.vehicle_find_by_vin(vin=_vin(i)) for i in range(30)],
        "accounts": get_user_model().objects.count(),
        "trips": {name: sorted(str(t.id) for t in found) for name, found in trips.items()},
        "wallets": {
            rider.username: users_api.wallet_get(rider_id=rider.id).available
            for rider in riders
            if rider
        },
    }


@pytest.mark.django_db(transaction=True)
def test_demo_builds_a_fleet_with_billed_trips_and_a_second_run_changes_nothing() -> None:
    out = StringIO()
    call_command("fleet_demo", *SMALL, stdout=out)
    assert "30 vehicles added, 4 riders, 8 trips completed" in out.getvalue()
    assert "staff      / fleet-staff-demo" in out.getvalue()

    first = _snapshot()
    assert all(first["vehicles"])
    for rider_trips in first["trips"].values():
        assert len(rider_trips) == 2
    rider = users_api.rider_find_by_username(username="rider01")
    assert rider is not None
    for trip in trips_api.trip_list_for_rider(rider_id=rider.id):
        assert trip.status == "completed"
        invoice = billing_api.invoice_for_trip(trip_id=trip.id)
        assert invoice.total.amount >= Decimal("6.00")  # the demo tariff's minimum fare
        assert invoice.status == "paid"

    again = StringIO()
    call_command("fleet_demo", *SMALL, stdout=again)
    assert "0 vehicles added, 4 riders, 0 trips completed" in again.getvalue()
    assert _snapshot() == first


@pytest.mark.django_db
def test_a_negative_count_is_one_clear_error() -> None:
    with pytest.raises(CommandError, match="--vehicles must be 0 or more"):
        call_command("fleet_demo", "--vehicles", "-1")


@pytest.mark.django_db(transaction=True)
def test_demo_leaves_a_rider_who_is_riding_alone_and_tops_up_the_rest() -> None:
    call_command("fleet_demo", *SMALL, stdout=StringIO())
    rider = users_api.rider_find_by_username(username="rider02")
    assert rider is not None
    riding = trips_api.trip_request(
        rider_id=rider.id,
        origin_latitude=Decimal("52.52"),
        origin_longitude=Decimal("13.40"),
        destination_latitude=Decimal("52.50"),
        destination_longitude=Decimal("13.45"),
    )

    out = StringIO()
    call_command(
        "fleet_demo", "--vehicles", "30", "--riders", "4", "--trips-per-rider", "3", stdout=out
    )

    assert trips_api.trip_get(trip_id=riding.id).status == "assigned"
    assert "0 vehicles added, 4 riders, 3 trips completed" in out.getvalue()
    completed = [
        t for t in trips_api.trip_list_for_rider(rider_id=rider.id) if t.status == "completed"
    ]
    assert len(completed) == 2


@pytest.mark.django_db(transaction=True)
def test_demo_with_no_vehicles_says_so_instead_of_failing() -> None:
    err = StringIO()
    call_command("fleet_demo", "--vehicles", "0", "--riders", "1", stdout=StringIO(), stderr=err)
    assert "No vehicle is available" in err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_demo_tops_riders_up_when_their_bookings_need_more_credit(settings: Any) -> None:
    """Each booking holds credit: six trips need more than the welcome credit, topped up once."""
    settings.FLEET_BOOKING_CREDIT_HOLD = Decimal("20.00")
    demo = ["--vehicles", "10", "--riders", "1", "--trips-per-rider", "6"]

    call_command("fleet_demo", *demo, stdout=StringIO())

    rider = users_api.rider_find_by_username(username="rider01")
    assert rider is not None
    trips = trips_api.trip_list_for_rider(rider_id=rider.id)
    assert [trip.status for trip in trips] == ["completed"] * 6
    wallet = users_api.wallet_get(rider_id=rider.id)
    out = StringIO()
    call_command("fleet_demo", *demo, stdout=out)
    assert "0 trips completed" in out.getvalue()
    assert users_api.wallet_get(rider_id=rider.id) == wallet
