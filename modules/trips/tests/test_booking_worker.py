"""Integration: bookings run by a real Celery worker process, through a real broker.

No eager mode and no stand-ins: the booking is stored by this process, a worker process (the
platform's shared fixture: its own queue and Redis key prefix) runs it, the test holds real
PostgreSQL locks to stop it at a step, and kills the worker with SIGKILL where the crash test
says so.
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connections
from django.utils import timezone

from modules.trips import booking
from modules.trips.models import BookingSaga, Trip
from modules.trips.tasks import booking_saga_resume, booking_saga_resume_stale
from modules.trips.tests.conftest import ROUTE, ROUTE_ARGS, hold_id_of
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.deployable_process import database_url
from monolith.platform.registry import module_database
from monolith.platform.tests import conftest as platform_fixtures
from monolith.platform.tests.conftest import WorkerStart
from monolith.platform.tests.outbox_support import worker_wait
from monolith.platform.worker_process import WorkerHandle

pytestmark = pytest.mark.django_db(transaction=True)

# The platform's worker fixtures (its conftest does not reach this folder).
worker_start = platform_fixtures.worker_start
worker = platform_fixtures.worker

# A killed runner's booking is taken over once this has passed.
LEASE_SECONDS = 2


@pytest.fixture
def worker_env() -> dict[str, str]:
    """The workers' lease: short, so a test waits out a killed runner's."""
    return {"FLEET_BOOKING_LEASE_SECONDS": str(LEASE_SECONDS)}


@contextmanager
def locked(module: str, statement: str, *params: Any) -> Iterator[psycopg.Connection[Any]]:
    """Hold a lock on ``module``'s database, from a connection outside Django, for the block.

    The session of its own is the point: the worker waits on it, and the test's Django
    connection stays free to look.
    """
    alias = module_database(module)
    conninfo = database_url(connections[alias].settings_dict)
    with psycopg.connect(conninfo, autocommit=False) as holder:
        holder.execute(statement, params)
        try:
            yield holder
        finally:
            holder.rollback()


def waiting_on_a_lock(holder: psycopg.Connection[Any]) -> bool:
    """Some other session of the database waits for a lock (the worker, on ours)."""
    # Activity is snapshotted once per transaction; the holder's stays open, so refresh it.
    holder.execute("SELECT pg_stat_clear_snapshot()")
    row = holder.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchone()
    return bool(row and row[0])


def held(rider: Any) -> Decimal:
    return users_api.wallet_get(rider_id=rider.id).held.amount


def state_of(saga: BookingSaga) -> str:
    return BookingSaga.objects.values_list("state", flat=True).get(pk=saga.pk)


def test_a_step_failing_in_the_worker_releases_the_vehicle_and_the_credit(
    rider: Any, vehicle: Any, worker: WorkerHandle
) -> None:
    """The fault test: nothing stays reserved, the booking ends compensated."""
    saga, _ = booking.booking_start(rider_id=rider.id, claim=False, **ROUTE_ARGS)
    # The worker's trip insert waits on this lock, after the credit and the vehicle.
    with locked("trips", "LOCK TABLE trips_trip IN EXCLUSIVE MODE") as holder:
        booking_saga_resume.delay(str(saga.id))
        worker_wait(lambda: waiting_on_a_lock(holder), "the trip step waiting", worker)
        assert BookingSaga.objects.get(pk=saga.pk).step == "create_trip"
        assert held(rider) == saga.credit_amount
        # Meanwhile the rider's other booking got its trip: this one's step must fail.
        other_trip = uuid.uuid4()
        holder.execute(
            "INSERT INTO trips_trip (id, rider_id, status, origin_latitude, origin_longitude,"
            " destination_latitude, destination_longitude, requested_at, cancel_reason,"
            " cancel_note, cancelled_by, updated_at) VALUES (%s, %s, 'assigned', %s, %s, %s,"
            " %s, now(), '', '', '', now())",
            (
                other_trip,
                rider.id,
                *(ROUTE[f] for f in ("origin_latitude", "origin_longitude")),
                *(ROUTE[f] for f in ("destination_latitude", "destination_longitude")),
            ),
        )
        holder.commit()

    worker_wait(lambda: state_of(saga) == "compensated", "the compensation", worker)

    saga.refresh_from_db()
    assert saga.failure_code == "active_trip_exists"
    assert [(s.action, s.step, s.outcome) for s in saga.steps.order_by("number")] == [
        ("do", "reserve_credit", "done"),
        ("do", "reserve_vehicle", "done"),
        ("do", "create_trip", "refused"),
        ("undo", "reserve_vehicle", "done"),
        ("undo", "reserve_credit", "done"),
    ]
    # Nothing left reserved.
    assert held(rider) == 0
    assert users_api.credit_hold_get(hold_id=hold_id_of(saga)).status == "released"
    after = vehicles_api.vehicle_get(vehicle_id=vehicle.id)
    assert (after.status, after.current_trip_id) == ("available", None)
    assert list(Trip.objects.values_list("id", flat=True)) == [other_trip]


BLOCKED_STEPS = {
    # The credit hold locks the rider's wallet row: the test holds it first.
    "reserve_credit": (
        "users",
        "SELECT id FROM users_wallet WHERE rider_id = %s FOR UPDATE",
        "rider",
    ),
    # The reservation takes row locks on vehicles: a table lock in EXCLUSIVE mode stops it
    # (plain reads still pass).
    "reserve_vehicle": ("vehicles", "LOCK TABLE vehicles_vehicle IN EXCLUSIVE MODE", None),
    "create_trip": ("trips", "LOCK TABLE trips_trip IN EXCLUSIVE MODE", None),
}


@pytest.mark.parametrize("step", list(BLOCKED_STEPS))
def test_a_worker_killed_inside_a_step_leaves_one_hold_and_one_vehicle_once_resumed(
    rider: Any,
    make_vehicle: Callable[..., Any],
    worker: WorkerHandle,
    worker_start: WorkerStart,
    step: str,
) -> None:
    vehicles = [make_vehicle(), make_vehicle()]
    users_api.wallet_get(rider_id=rider.id)  # the wallet row exists to be locked
    saga, _ = booking.booking_start(rider_id=rider.id, claim=False, **ROUTE_ARGS)
    module, statement, parameter = BLOCKED_STEPS[step]
    params = (rider.id,) if parameter == "rider" else ()

    with locked(module, statement, *params) as holder:
        booking_saga_resume.delay(str(saga.id))
        worker_wait(lambda: waiting_on_a_lock(holder), f"the worker waiting in {step}", worker)
        assert BookingSaga.objects.get(pk=saga.pk).step == step
        worker.kill()  # SIGKILL, worker and pool: nothing acknowledges, nothing cleans up
    # The lock is gone; the dead worker's session ends with its transaction rolled back.

    def lease_expired() -> bool:
        lease = BookingSaga.objects.get(pk=saga.pk).lease_expires_at
        return lease is not None and lease < timezone.now()

    worker_wait(lease_expired, "the dead runner's lease running out", worker)
    assert state_of(saga) == "running"
    with worker_start() as second:
        booking_saga_resume_stale.delay()  # what beat sends
        worker_wait(lambda: state_of(saga) in {"confirmed", "compensated"}, "the resume", second)

    saga.refresh_from_db()
    assert saga.state == "confirmed"
    assert saga.attempts == 2
    # Exactly one hold and one vehicle reservation, whatever the dead worker had started.
    assert held(rider) == saga.credit_amount
    hold = users_api.credit_hold_get(hold_id=hold_id_of(saga))
    assert (hold.status, hold.reference) == ("held", f"trip:{saga.trip_id}")
    reserved = [
        v
        for v in (vehicles_api.vehicle_get(vehicle_id=v.id) for v in vehicles)
        if v.current_trip_id == saga.trip_id
    ]
    assert [(v.id, v.status) for v in reserved] == [(saga.vehicle_id, "reserved")]
    assert Trip.objects.filter(rider_id=rider.id).count() == 1
