"""Concurrent reservations, each in its own database connection."""

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections

from modules.vehicles import services
from modules.vehicles.errors import NoVehicleAvailable
from modules.vehicles.models import Vehicle, VehicleStatusChange
from monolith.platform.registry import module_atomic

WAIT_SECONDS = 5


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_reservations_never_get_the_same_vehicle(
    make_vehicle: Callable[..., Vehicle],
) -> None:
    nearest = make_vehicle(latitude=Decimal("52.52"), longitude=Decimal("13.40"))
    second = make_vehicle(latitude=Decimal("52.60"), longitude=Decimal("13.40"))
    first_reserved = threading.Event()
    second_done = threading.Event()
    results: dict[str, Any] = {}

    def reserve() -> Any:
        return services.vehicle_reserve_nearest(
            latitude=Decimal("52.52"), longitude=Decimal("13.40"), trip_id=uuid.uuid4()
        ).id

    def first() -> None:
        try:
            # Keep the transaction (and its row lock) open until the other caller has chosen.
            with module_atomic("vehicles"):
                results["first"] = reserve()
                first_reserved.set()
                # True only if the other caller did not wait for this lock.
                results["second_did_not_block"] = second_done.wait(WAIT_SECONDS)
        except Exception as exc:
            results["first"] = exc
            first_reserved.set()
        finally:
            connections.close_all()

    def second_caller() -> None:
        try:
            first_reserved.wait(WAIT_SECONDS)
            results["second"] = reserve()
        except Exception as exc:
            results["second"] = exc
        finally:
            second_done.set()
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second_caller)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 2)

    assert results == {"first": nearest.id, "second": second.id, "second_did_not_block": True}
    assert set(Vehicle.objects.values_list("status", flat=True)) == {"reserved"}
    assert VehicleStatusChange.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_many_racing_trips_never_share_a_vehicle(
    make_vehicle: Callable[..., Vehicle], run_together: Callable[..., list[Any]]
) -> None:
    """Six trips race for four vehicles: four win one each, the others hear none is free."""
    vehicles = {make_vehicle().id for _ in range(4)}
    trips = [uuid.uuid4() for _ in range(6)]

    def reserve_for(trip_id: uuid.UUID) -> Callable[[], Any]:
        return lambda: (
            services.vehicle_reserve_nearest(
                latitude=Decimal("52.52"), longitude=Decimal("13.40"), trip_id=trip_id
            ).id
        )

    outcomes = run_together(*(reserve_for(trip_id) for trip_id in trips))

    won = dict(zip(trips, outcomes, strict=True))
    winners = {trip_id: vehicle for trip_id, vehicle in won.items() if vehicle in vehicles}
    assert sorted(winners.values()) == sorted(vehicles)
    losers = [outcome for outcome in outcomes if not isinstance(outcome, uuid.UUID)]
    assert len(losers) == 2
    assert all(isinstance(outcome, NoVehicleAvailable) for outcome in losers)
    held = dict(Vehicle.objects.values_list("current_trip_id", "id"))
    assert held == winners
