"""Concurrent requests by one rider: the database decides, and the loser gets a clean 409."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from modules.trips import services
from modules.trips.errors import ActiveTripExists
from modules.trips.models import Trip, TripStatus
from modules.trips.tests.conftest import ROUTE
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api


@pytest.mark.django_db(transaction=True)
def test_a_request_racing_an_uncommitted_one_is_refused(
    rider: Any, make_vehicle: Callable[..., Any]
) -> None:
    """The service's own check cannot see the other request's trip; the unique index can."""
    first_vehicle, second_vehicle = make_vehicle(), make_vehicle()
    # Provisioned up front, so neither request waits on the other inside the users module.
    users_api.rider_get(rider_id=rider.id)
    inserted = threading.Event()
    release = threading.Event()
    failures: list[BaseException] = []

    def competing_request() -> None:
        try:
            with transaction.atomic():
                services.trip_request(rider_id=rider.id, **ROUTE)
                inserted.set()
                # Hold the transaction open while the main thread makes its request.
                release.wait(timeout=10)
        except BaseException as exc:
            failures.append(exc)
        finally:
            inserted.set()
            connection.close()

    competitor = threading.Thread(target=competing_request)
    competitor.start()
    assert inserted.wait(timeout=10)
    threading.Timer(0.5, release.set).start()

    with pytest.raises(ActiveTripExists):
        services.trip_request(rider_id=rider.id, **ROUTE)

    competitor.join(timeout=10)
    assert failures == []
    assert list(Trip.objects.values_list("status", flat=True)) == [TripStatus.ASSIGNED]
    statuses = sorted(
        vehicles_api.vehicle_get(vehicle_id=vehicle.id).status
        for vehicle in (first_vehicle, second_vehicle)
    )
    assert statuses == ["available", "reserved"]
