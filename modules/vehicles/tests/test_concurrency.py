"""Concurrent reservations, each in its own database connection."""

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from modules.vehicles import services
from modules.vehicles.models import Vehicle, VehicleStatusChange

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
            latitude=Decimal("52.52"), longitude=Decimal("13.40")
        ).id

    def first() -> None:
        try:
            # Keep the transaction (and its row lock) open until the other caller has chosen.
            with transaction.atomic():
                results["first"] = reserve()
                first_reserved.set()
                # True only if the other caller did not wait for this lock.
                results["second_did_not_block"] = second_done.wait(WAIT_SECONDS)
        except Exception as exc:
            results["first"] = exc
            first_reserved.set()
        finally:
            connection.close()

    def second_caller() -> None:
        try:
            first_reserved.wait(WAIT_SECONDS)
            results["second"] = reserve()
        except Exception as exc:
            results["second"] = exc
        finally:
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second_caller)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 2)

    assert results == {"first": nearest.id, "second": second.id, "second_did_not_block": True}
    assert set(Vehicle.objects.values_list("status", flat=True)) == {"reserved"}
    assert VehicleStatusChange.objects.count() == 2
