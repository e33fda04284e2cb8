"""Integration: bookings run by a real Celery worker process, through a real broker.

No eager mode and no stand-ins: the booking is stored by this process, a worker process (its
own queue and Redis key prefix) runs it, the test holds real PostgreSQL locks to stop it at a
step, and kills the worker with SIGKILL where the crash test says so.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from celery import Task
from django.conf import settings
from django.db import connections
from django.utils import timezone

from modules.trips import booking
from modules.trips.models import BookingSaga, Trip
from modules.trips.tasks import booking_saga_resume, booking_saga_resume_stale
from modules.trips.tests.conftest import ROUTE, ROUTE_ARGS, hold_id_of
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.celery import app
from monolith.platform.deployable_process import database_url
from monolith.platform.registry import module_database
from monolith.platform.tests.test_worker_process import FAST_START, Broker
from monolith.platform.worker_process import WorkerHandle, celery_worker

pytestmark = pytest.mark.django_db(transaction=True)

# A killed runner's booking is taken over once this has passed.
LEASE_SECONDS = 2
WAIT_SECONDS = 30


@pytest.fixture
def broker() -> Iterator[Broker]:
    """The environment's broker, with a queue and key prefix of this test's own."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    test_broker = Broker(url=settings.CELERY_BROKER_URL, queue=name, key_prefix=f"{name}:")
    try:
        yield test_broker
    finally:
        test_broker.remove_test_state()


@pytest.fixture
def start_worker(broker: Broker) -> Callable[[], Any]:
    """Start a worker on the test databases, under this test's settings (peeled or not)."""

    env = broker.worker_env(
        DJANGO_SETTINGS_MODULE=settings.SETTINGS_MODULE,
        DATABASE_URL=database_url(connections["default"].settings_dict),
        FLEET_BOOKING_LEASE_SECONDS=str(LEASE_SECONDS),
        FLEET_TASK_MAX_DELAY_SECONDS="0",
    )

    @contextmanager
    def start() -> Iterator[WorkerHandle]:
        with celery_worker(env, queues=[broker.queue], extra_args=FAST_START) as worker:
            yield worker

    return start


def send(broker: Broker, task: Task, *args: Any) -> None:
    """Publish ``task`` to the test's queue, as beat or the booking request would."""
    with app.connection_for_write(
        broker.url, transport_options=broker.transport_options()
    ) as connection:
        task.apply_async(args, queue=broker.queue, producer=connection.Producer())


def wait_for(condition: Callable[[], bool], what: str, worker: WorkerHandle | None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    log = worker.log() if worker is not None else ""
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s; worker:\n{log}")


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
    rider: Any, vehicle: Any, broker: Broker, start_worker: Callable[[], Any]
) -> None:
    """The fault test: nothing stays reserved, the booking ends compensated."""
    saga, _ = booking.booking_start(rider_id=rider.id, claim=False, **ROUTE_ARGS)
    with start_worker() as worker:
        # The worker's trip insert waits on this lock, after the credit and the vehicle.
        with locked("trips", "LOCK TABLE trips_trip IN EXCLUSIVE MODE") as holder:
            send(broker, booking_saga_resume, str(saga.id))
            wait_for(lambda: waiting_on_a_lock(holder), "the trip step waiting", worker)
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

        wait_for(lambda: state_of(saga) == "compensated", "the compensation", worker)

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
    broker: Broker,
    start_worker: Callable[[], Any],
    step: str,
) -> None:
    vehicles = [make_vehicle(), make_vehicle()]
    users_api.wallet_get(rider_id=rider.id)  # the wallet row exists to be locked
    saga, _ = booking.booking_start(rider_id=rider.id, claim=False, **ROUTE_ARGS)
    module, statement, parameter = BLOCKED_STEPS[step]
    params = (rider.id,) if parameter == "rider" else ()

    with locked(module, statement, *params) as holder, start_worker() as first:
        send(broker, booking_saga_resume, str(saga.id))
        wait_for(lambda: waiting_on_a_lock(holder), f"the worker waiting in {step}", first)
        assert BookingSaga.objects.get(pk=saga.pk).step == step
        first.kill()  # SIGKILL, worker and pool: nothing acknowledges, nothing cleans up
    # The lock is gone; the dead worker's session ends with its transaction rolled back.

    def lease_expired() -> bool:
        lease = BookingSaga.objects.get(pk=saga.pk).lease_expires_at
        return lease is not None and lease < timezone.now()

    wait_for(lease_expired, "the dead runner's lease running out", None)
    assert state_of(saga) == "running"
    with start_worker() as second:
        send(broker, booking_saga_resume_stale)  # what beat sends
        wait_for(lambda: state_of(saga) in {"confirmed", "compensated"}, "the resume", second)

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
