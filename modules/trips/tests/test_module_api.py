"""The trips module's front door, as other modules call it."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from modules.trips import api, services
from modules.trips.models import Trip, TripStatus
from modules.trips.tests.conftest import ROUTE

pytestmark = pytest.mark.django_db


def test_trip_get_returns_a_summary(running_trip: Trip) -> None:
    services.trip_complete(
        trip_id=running_trip.id, distance_km=Decimal("7.25"), duration_seconds=900
    )

    summary = api.trip_get(trip_id=running_trip.id)

    assert isinstance(summary, api.TripSummary)
    assert summary.id == running_trip.id
    assert summary.rider_id == running_trip.rider_id
    assert summary.vehicle_id == running_trip.vehicle_id
    assert summary.status == "completed"
    assert summary.origin_latitude == ROUTE["origin_latitude"]
    assert summary.distance_km == Decimal("7.25")
    assert summary.duration_seconds == 900
    assert summary.started_at is not None
    assert summary.completed_at is not None
    assert summary.cancel_reason == ""


def test_trip_get_of_an_unknown_trip_raises(db: Any) -> None:
    with pytest.raises(api.TripNotFound) as caught:
        api.trip_get(trip_id=Trip().id)

    assert caught.value.status == 404


def _past_trip(rider_id: Any, *, days_ago: int) -> Trip:
    return Trip.objects.create(
        rider_id=rider_id,
        status=TripStatus.CANCELLED,
        requested_at=timezone.now() - timedelta(days=days_ago),
        cancel_reason="rider_changed_mind",
        **ROUTE,
    )


def test_trip_list_for_rider_is_their_history_newest_first(rider: Any, other_rider: Any) -> None:
    old = _past_trip(rider.id, days_ago=3)
    new = _past_trip(rider.id, days_ago=1)
    _past_trip(other_rider.id, days_ago=2)

    trips = api.trip_list_for_rider(rider_id=rider.id)

    assert [trip.id for trip in trips] == [new.id, old.id]
    assert all(trip.cancel_reason == "rider_changed_mind" for trip in trips)
    assert [trip.id for trip in api.trip_list_for_rider(rider_id=rider.id, limit=1)] == [new.id]


def test_trip_active_for_rider(assigned_trip: Trip, other_rider: Any) -> None:
    active = api.trip_active_for_rider(rider_id=assigned_trip.rider_id)

    assert active is not None
    assert active.id == assigned_trip.id
    assert active.status == "assigned"
    assert api.trip_active_for_rider(rider_id=other_rider.id) is None
