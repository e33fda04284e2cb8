"""A completed trip, made through the modules' front doors, and a recording ``send``, for the
outbox tests."""

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from modules.billing import api as billing_api
from modules.trips import api as trips_api
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.worker_process import WorkerHandle

_serials: Iterator[int] = itertools.count(1)


def tariff_ensure() -> None:
    billing_api.tariff_create(
        name="Outbox tests",
        base_fare=Decimal("2.50"),
        per_km=Decimal("1.20"),
        per_minute=Decimal("0.30"),
        minimum_fare=Decimal("5.00"),
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )


def trip_complete_for(rider: Any) -> UUID:
    """Register a vehicle, then book, start and complete a trip for ``rider``.

    The rider is first given the credit the booking holds, as a paid top-up would.
    """
    serial = next(_serials)
    users_api.credit_top_up(
        rider_id=rider.id,
        amount=trips_api.booking_credit_amount(),
        reference=f"outbox-tests-booking-{serial}",
    )
    vehicles_api.vehicle_register(
        vin=vehicles_api.vin_complete(f"1M8GDM9A0KP{serial + 500000:06d}"),
        make="Zoox",
        model="Robotaxi",
        seats=4,
        latitude=Decimal("52.520000"),
        longitude=Decimal("13.405000"),
        battery_pct=100,
    )
    trip = trips_api.trip_request(
        rider_id=rider.id,
        origin_latitude=Decimal("52.521918"),
        origin_longitude=Decimal("13.413215"),
        destination_latitude=Decimal("52.516275"),
        destination_longitude=Decimal("13.377704"),
    )
    trips_api.trip_start(trip_id=trip.id)
    trips_api.trip_complete(trip_id=trip.id, distance_km=Decimal("10"), duration_seconds=600)
    return trip.id


def worker_wait(
    condition: Callable[[], bool], what: str, worker: WorkerHandle, timeout: float = 30
) -> None:
    """Wait until ``condition`` holds; fail with the worker's log after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s; worker:\n{worker.log()}")


class Sent:
    """A ``send`` that records deliveries instead of queueing tasks."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []

    def __call__(self, **delivery: Any) -> None:
        self.deliveries.append(delivery)

    def after(self, event_id: UUID, subscriber: str) -> str | None:
        """The id of the event the delivery of ``event_id`` to ``subscriber`` waits for."""
        (delivery,) = [
            d
            for d in self.deliveries
            if d["event_id"] == str(event_id) and d["subscriber"] == subscriber
        ]
        return delivery["after"]["event_id"] if delivery["after"] else None

    def to(self, subscriber: str) -> list[dict[str, Any]]:
        return [d for d in self.deliveries if d["subscriber"] == subscriber]
