from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from modules.vehicles import selectors
from modules.vehicles.models import Vehicle

pytestmark = pytest.mark.django_db

MakeVehicle = Callable[..., Vehicle]


def test_summary_of_empty_fleet_lists_every_status_at_zero() -> None:
    summary = selectors.fleet_status_summary()
    assert summary.by_status == {
        "available": 0,
        "reserved": 0,
        "in_trip": 0,
        "charging": 0,
        "maintenance": 0,
        "offline": 0,
    }
    assert (summary.total, summary.low_battery, summary.stale_heartbeat) == (0, 0, 0)


def test_summary_counts(make_vehicle: MakeVehicle, assert_num_queries_all_databases: Any) -> None:
    now = timezone.now()
    fresh = [make_vehicle(), make_vehicle(battery_pct=19), make_vehicle(status="charging")]
    make_vehicle(status="charging", battery_pct=5)  # never heard from
    old = make_vehicle(status="offline", battery_pct=20)
    Vehicle.objects.filter(pk__in=[v.pk for v in fresh]).update(
        last_heartbeat_at=now - timedelta(minutes=4)
    )
    Vehicle.objects.filter(pk=old.pk).update(last_heartbeat_at=now - timedelta(minutes=6))

    with assert_num_queries_all_databases(1):
        summary = selectors.fleet_status_summary()

    assert summary.by_status == {
        "available": 2,
        "reserved": 0,
        "in_trip": 0,
        "charging": 2,
        "maintenance": 0,
        "offline": 1,
    }
    assert summary.total == 5
    assert summary.low_battery == 2
    assert summary.stale_heartbeat == 2


@override_settings(VEHICLES_LOW_BATTERY_PCT=50, VEHICLES_STALE_HEARTBEAT_SECONDS=60)
def test_thresholds_come_from_settings(make_vehicle: MakeVehicle) -> None:
    vehicle = make_vehicle(battery_pct=49)
    Vehicle.objects.filter(pk=vehicle.pk).update(
        last_heartbeat_at=timezone.now() - timedelta(seconds=90)
    )
    summary = selectors.fleet_status_summary()
    assert (summary.low_battery, summary.stale_heartbeat) == (1, 1)
