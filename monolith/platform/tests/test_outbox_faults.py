"""Faults, with real processes: every event's effect happens once whatever happens to the worker
or the broker.

- A worker SIGKILLed in the middle of a delivery (its handler's transaction open): the message
  comes back (RabbitMQ at once, Redis after the visibility timeout) and a new worker has the
  effect once.
- A worker SIGKILLed after the broker handed it a delivery it had not read yet: RabbitMQ hands
  it to the next worker; Redis loses it, and the outbox sweep sends it again once the resend
  window has passed without the subscriber's inbox showing it.
- Workers SIGKILLed again and again while they work through many completed trips: every trip
  is invoiced once and every invoice charged once.
- The broker stopped while 1,000 trips complete: the completions succeed without waiting on
  it, and once it is back (empty) the outbox sweep relays them all: 1,000 invoices, none twice.
- A broker that accepts connections and never answers: publishing raises, it does not hang.

Brokers: the environment's (``CELERY_BROKER_URL``) and ``CELERY_TEST_EXTRA_BROKER_URLS`` for
the kill tests, each on a queue and key prefix of its own; a private Redis the test starts,
stops and starts again for the outage. Every process a test starts is stopped when it ends.
"""

import itertools
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import OperationalError

from modules.billing import api as billing_api
from modules.billing.models import Inbox as BillingInbox
from modules.billing.models import Invoice, InvoiceNumberCounter, Payment, SandboxCharge
from modules.billing.services import INVOICE_COUNTER
from modules.trips import api as trips_api
from modules.trips.events import TripCompleted
from modules.trips.models import Outbox as TripsOutbox
from modules.trips.models import Trip, TripStatus
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import Vehicle
from monolith.platform.access import Role
from monolith.platform.deployable_process import database_url
from monolith.platform.events import event_type_named, subscribers_of
from monolith.platform.outbox import machinery
from monolith.platform.registry import module_database
from monolith.platform.tasks import outbox_relay
from monolith.platform.tests import test_worker_process
from monolith.platform.tests.broker_support import private_redis, publishing_to, silent_broker
from monolith.platform.tests.outbox_support import tariff_ensure
from monolith.platform.tests.test_worker_process import FAST_START, SHORT_VISIBILITY_TIMEOUT, Broker
from monolith.platform.worker_process import WorkerHandle, start_worker

pytestmark = pytest.mark.django_db(transaction=True)

# The worker tests' fixture: each broker under test, with a queue and key prefix of its own.
broker = test_worker_process.broker

# Seconds after its relay that the sweep (beat, every SWEEP_EVERY seconds) sends again a
# delivery no inbox shows: longer than a message takes to come back from a killed worker.
RESEND_AFTER = SHORT_VISIBILITY_TIMEOUT * 2
SWEEP_EVERY = 10
# Trips worked through while workers are killed, and how many times they are killed.
TRIPS_UNDER_KILLS = 120
KILLS = 3
# Trips completed while the broker is down.
TRIPS_DURING_OUTAGE = 1000
# Riders completing trips side by side (each one trip at a time).
RIDERS = 4
TOP_UP = Decimal("500.00")

_vehicle_serials = itertools.count(700000)
ROUTE = {
    "origin_latitude": Decimal("52.521918"),
    "origin_longitude": Decimal("13.413215"),
    "destination_latitude": Decimal("52.516275"),
    "destination_longitude": Decimal("13.377704"),
}


def _worker_env(under_test: Broker, **overrides: str) -> dict[str, str]:
    """The worker's environment: the test database, the broker under test, short timeouts (a
    message whose worker was killed is back on Redis after SHORT_VISIBILITY_TIMEOUT seconds)."""
    return under_test.worker_env(
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_VISIBILITY_TIMEOUT=str(SHORT_VISIBILITY_TIMEOUT),
        CELERY_TASK_TIME_LIMIT=str(SHORT_VISIBILITY_TIMEOUT - 1),
        # Retries follow each other at once; every attempt still happens.
        FLEET_TASK_MAX_DELAY_SECONDS="0",
        # A delivery lost on the way is sent again by the next sweep after this.
        FLEET_OUTBOX_RESEND_AFTER_SECONDS=str(RESEND_AFTER),
        **overrides,
    )


@contextmanager
def _workers(
    env: dict[str, str], *, concurrency: int = 1, beat_folder: Path | None = None
) -> Iterator[Callable[[], WorkerHandle]]:
    """A way to start workers one after another (each with the beat schedule, when
    ``beat_folder`` is given); every one started is stopped when the block ends."""
    started: list[WorkerHandle] = []

    def start() -> WorkerHandle:
        extra = list(FAST_START)
        if beat_folder is not None:
            # A file per worker: a beat killed with its worker may leave its file half written.
            extra += ["--beat", f"--schedule={beat_folder / f'beat-{len(started)}'}"]
        handle = start_worker(env, concurrency=concurrency, extra_args=extra)
        started.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in started:
            handle.stop(timeout=10)


def _wait(condition: Callable[[], bool], what: str, *, timeout: float, log: Callable[[], str]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s; worker:\n{log()}")


class CounterLock:
    """Billing's invoice number counter, locked by another connection (a thread of this test)
    until ``release()``: an invoice issued meanwhile waits inside its transaction."""

    def __init__(self) -> None:
        self._locked = threading.Event()
        self._release = threading.Event()
        self.backend_pid: int | None = None
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        database = module_database("billing")
        try:
            with transaction.atomic(using=database):
                InvoiceNumberCounter.objects.using(database).select_for_update().get(
                    name=INVOICE_COUNTER
                )
                with connections[database].cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.backend_pid = cursor.fetchone()[0]
                self._locked.set()
                self._release.wait(timeout=120)
        finally:
            connections.close_all()

    def __enter__(self) -> "CounterLock":
        InvoiceNumberCounter.objects.using(module_database("billing")).get_or_create(
            name=INVOICE_COUNTER
        )
        self._thread.start()
        assert self._locked.wait(timeout=10), "the counter could not be locked"
        return self

    def waiters(self) -> list[int]:
        """Database backends waiting for this lock."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [self.backend_pid],
            )
            return [row[0] for row in cursor.fetchall()]

    def release(self) -> None:
        self._release.set()
        self._thread.join(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.release()


class DeliveryLost(AssertionError):
    """Events relayed to the broker that a subscriber never handled nor parked."""


# Redis loses a delivery its consumer took (BRPOP) and died before reading: see
# test_a_delivery_handed_to_a_worker_that_dies_before_reading_it_is_still_handled.
def _trips_invoiced_wait(
    condition: Callable[[], bool],
    what: str,
    trip_ids: Sequence[uuid.UUID],
    *,
    timeout: float,
    log: Callable[[], str],
) -> None:
    """``_wait`` for the trips' invoicing; a failure says where their events stand, and is a
    ``DeliveryLost`` when an event was relayed and billing neither handled nor parked it."""
    try:
        _wait(condition, what, timeout=timeout, log=lambda: _progress(trip_ids) + log())
    except AssertionError as failure:
        lost = _lost_deliveries()
        if lost:
            raise DeliveryLost(
                f"deliveries relayed, never handled, not parked (event, id, subscriber): {lost}"
            ) from failure
        raise


def _lost_deliveries() -> list[tuple[str, str, str]]:
    """(event, event id, subscriber) of every relayed event its subscriber neither handled
    nor parked. Called once everything has had time to happen: those are lost."""
    relayed: dict[str, dict[str, str]] = defaultdict(dict)
    for publisher in machinery.outbox_modules():
        rows = (
            machinery.outbox_table(publisher)
            .objects.using(module_database(publisher))
            .filter(relayed_at__isnull=False)
            .values_list("id", "name")
        )
        for event_id, name in rows:
            for subscriber in subscribers_of(event_type_named(name)):
                relayed[subscriber][str(event_id)] = name
    lost = []
    for subscriber, sent in relayed.items():
        database = module_database(subscriber)
        seen = {
            str(event_id)
            for table in (machinery.inbox_table(subscriber), machinery.parked_table(subscriber))
            for event_id in table.objects.using(database)
            .filter(event_id__in=list(sent), subscriber=subscriber)
            .values_list("event_id", flat=True)
        }
        lost += [
            (name, event_id, subscriber) for event_id, name in sent.items() if event_id not in seen
        ]
    return lost


def _progress(trip_ids: Sequence[uuid.UUID]) -> str:
    """Where the trips' events stand: what tells a slow delivery from a lost one."""
    invoiced = set(Invoice.objects.filter(trip_id__in=trip_ids).values_list("trip_id", flat=True))
    events = _trip_completed_ids([trip_id for trip_id in trip_ids if trip_id not in invoiced])
    handled = BillingInbox.objects.filter(event_id__in=list(events.values()))
    unpaid = Invoice.objects.filter(trip_id__in=trip_ids).exclude(status=Invoice.Status.PAID)
    parked = [
        row
        for subscriber in machinery.inbox_modules()
        for row in machinery.parked_table(subscriber)
        .objects.using(module_database(subscriber))
        .values("subscriber", "event_name", "event_id", "last_error")
    ]
    return (
        f"{len(invoiced)} of {len(trip_ids)} trips invoiced; TripCompleted events of the others "
        f"(trip: event): {events}, of which billing handled {handled.count()}; unpaid "
        f"invoices: {list(unpaid.values_list('number', 'status'))}; parked: {parked}\n"
    )


def _task_ids(log: str, *states: str) -> set[str]:
    """The ids of tasks the worker's log shows in any of ``states`` ("received", ...)."""
    ids = set()
    for line in log.splitlines():
        _, task, rest = line.partition("Task ")
        name, bracket, after = rest.partition("[")
        if not task or not bracket or " " in name:
            continue
        task_id, _, outcome = after.partition("] ")
        if outcome.startswith(states):
            ids.add(task_id)
    return ids


def _in_flight(log: str) -> set[str]:
    """Tasks the worker received and had not finished (succeeded, retried or failed)."""
    return _task_ids(log, "received") - _task_ids(log, "succeeded", "retry", "raised")


def _working(worker: WorkerHandle) -> bool:
    return bool(_in_flight(worker.log()))


def _trip_completed_ids(trip_ids: Sequence[uuid.UUID]) -> dict[str, str]:
    """The TripCompleted event id of each trip (trip id -> event id)."""
    completed = TripsOutbox.objects.filter(
        name=TripCompleted.name, aggregate_id__in=[str(trip_id) for trip_id in trip_ids]
    )
    return {message.aggregate_id: str(message.id) for message in completed}


def _assert_each_trip_invoiced_once(trip_ids: Sequence[uuid.UUID]) -> list[Invoice]:
    """One invoice per trip, one billing inbox row per TripCompleted, nothing parked."""
    assert len(set(trip_ids)) == len(trip_ids)
    invoices = list(Invoice.objects.filter(trip_id__in=trip_ids))
    per_trip = Counter(invoice.trip_id for invoice in invoices)
    assert set(per_trip) == set(trip_ids)
    assert set(per_trip.values()) == {1}
    events = _trip_completed_ids(trip_ids)
    assert len(events) == len(trip_ids)
    handled = Counter(
        str(event_id)
        for event_id in BillingInbox.objects.filter(
            event_id__in=list(events.values()), subscriber="billing"
        ).values_list("event_id", flat=True)
    )
    assert handled == Counter(dict.fromkeys(events.values(), 1))
    for subscriber in machinery.inbox_modules():
        parked = machinery.parked_table(subscriber).objects.using(module_database(subscriber))
        assert not parked.exists(), list(parked.values())
    return invoices


def _assert_each_invoice_charged_once(invoices: Sequence[Invoice]) -> None:
    """Paid, by one successful payment, from one charge at the payment provider."""
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.status == Invoice.Status.PAID, invoice
        payments = list(Payment.objects.filter(invoice=invoice))
        assert [payment.status for payment in payments] == [Payment.Status.SUCCEEDED], payments
        charges = SandboxCharge.objects.filter(idempotency_key__startswith=f"invoice-{invoice.id}-")
        assert charges.count() == 1, list(charges)


def _riders_paying_by_card(make_user: Callable[..., Any], count: int) -> list[Any]:
    tariff_ensure()
    riders = [make_user(f"rider-{number}", Role.RIDER) for number in range(count)]
    for rider in riders:
        billing_api.payment_method_set(rider_id=rider.id, card_token="tok_visa")
    return riders


def _trips_completed(riders: Sequence[Any], count: int) -> list[uuid.UUID]:
    """``count`` trips booked, started and completed through the trips module's front door,
    the riders' side by side (each rider one trip at a time, on a vehicle of their own that
    each completion frees). Each rider is first given the credit all their bookings hold."""
    shares = {
        rider: count // len(riders) + (number < count % len(riders))
        for number, rider in enumerate(riders)
    }
    hold = trips_api.booking_credit_amount()
    for rider, share in shares.items():
        # As a rider would, in top-ups of at most TOP_UP (the wallet's limit per top-up).
        for top_up in range(0, share, int(TOP_UP // hold)):
            users_api.credit_top_up(
                rider_id=rider.id,
                amount=hold * min(share - top_up, int(TOP_UP // hold)),
                reference=f"fault-tests-{uuid.uuid4()}",
            )
        vehicles_api.vehicle_register(
            vin=vehicles_api.vin_complete(f"1M8GDM9A0KP{next(_vehicle_serials):06d}"),
            make="Zoox",
            model="Robotaxi",
            seats=4,
            latitude=Decimal("52.520000"),
            longitude=Decimal("13.405000"),
        )

    def ride(rider: Any, share: int) -> list[uuid.UUID]:
        try:
            return [_trip_complete(rider) for _ in range(share)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(riders)) as pool:
        rides = [pool.submit(ride, rider, share) for rider, share in shares.items()]
        return [trip_id for done in rides for trip_id in done.result()]


def _trips_under_way(count: int) -> list[uuid.UUID]:
    """``count`` trips under way, each its own rider's, in a vehicle of its own.

    Inserted in bulk: booking and pick-up are not what the outage is about, and a thousand
    bookings through the saga take minutes on a shared machine. Completing them goes through
    the trips module's front door (``_trips_finish``): the outbox rows, the relay after each
    commit and the vehicle freed are the product's own.
    """
    now = timezone.now()
    trips = [
        Trip(
            rider_id=uuid.uuid4(),
            vehicle_id=uuid.uuid4(),
            status=TripStatus.IN_PROGRESS,
            requested_at=now,
            assigned_at=now,
            started_at=now,
            **ROUTE,
        )
        for _ in range(count)
    ]
    vehicles = [
        Vehicle(
            id=trip.vehicle_id,
            vin=vehicles_api.vin_complete(f"1M8GDM9A0KP{next(_vehicle_serials):06d}"),
            make="Zoox",
            model="Robotaxi",
            seats=4,
            status=VehicleStatus.IN_TRIP,
            current_trip_id=trip.id,
            latitude=ROUTE["origin_latitude"],
            longitude=ROUTE["origin_longitude"],
        )
        for trip in trips
    ]
    Vehicle.objects.using(module_database("vehicles")).bulk_create(vehicles)
    Trip.objects.using(module_database("trips")).bulk_create(trips)
    return [trip.id for trip in trips]


def _trips_finish(trip_ids: Sequence[uuid.UUID], *, side_by_side: int) -> None:
    """Complete the trips through trips.api, ``side_by_side`` at a time (threads)."""

    def finish(share: Sequence[uuid.UUID]) -> None:
        try:
            for trip_id in share:
                trips_api.trip_complete(
                    trip_id=trip_id, distance_km=Decimal("10"), duration_seconds=600
                )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=side_by_side) as pool:
        shares = [pool.submit(finish, trip_ids[n::side_by_side]) for n in range(side_by_side)]
        for share in shares:
            share.result()


def _trip_complete(rider: Any) -> uuid.UUID:
    trip = trips_api.trip_request(rider_id=rider.id, **ROUTE)
    trips_api.trip_start(trip_id=trip.id)
    trips_api.trip_complete(trip_id=trip.id, distance_km=Decimal("10"), duration_seconds=600)
    return trip.id


def test_a_worker_killed_inside_a_delivery_leaves_its_effect_to_the_next_worker_once(
    broker: Broker, make_user: Callable[..., Any]
) -> None:
    """The handler is held inside its transaction (billing's invoice counter is locked), the
    whole worker is SIGKILLed, and the same message runs on a new worker: one invoice."""
    (rider,) = _riders_paying_by_card(make_user, 1)
    env = _worker_env(broker)
    with (
        publishing_to(broker.url, queue=broker.queue, transport_options=broker.transport_options()),
        _workers(env) as start,
    ):
        first = start()
        with CounterLock() as lock:
            (trip_id,) = _trips_completed([rider], 1)
            _wait(lambda: bool(lock.waiters()), "the blocked delivery", timeout=30, log=first.log)
            # The one task received and not finished: the delivery waiting for the lock.
            (killed_delivery,) = _in_flight(first.log())
            first.kill()
            assert not Invoice.objects.filter(trip_id=trip_id).exists()
        # The lock is released: nothing of the killed worker's transaction may commit now.
        assert not Invoice.objects.filter(trip_id=trip_id).exists()

        second = start()
        _wait(
            lambda: Invoice.objects.filter(trip_id=trip_id, status=Invoice.Status.PAID).exists(),
            "the paid invoice",
            timeout=SHORT_VISIBILITY_TIMEOUT * 3 + 20,
            log=second.log,
        )
        # The very message the first worker held, redelivered (the relay had already run).
        assert killed_delivery in _task_ids(second.log(), "succeeded")

    _assert_each_invoice_charged_once(_assert_each_trip_invoiced_once([trip_id]))


def test_a_delivery_handed_to_a_worker_that_dies_before_reading_it_is_still_handled(
    broker: Broker,
    make_user: Callable[..., Any],
    settings: Any,
    tmp_path: Path,
) -> None:
    """The broker hands the relayed delivery to a worker that is frozen (SIGSTOP: it will never
    read it) and the worker is SIGKILLed: the event must still be handled, once, next time.

    RabbitMQ requeues the unacknowledged delivery when the connection drops. Redis does not:
    kombu's consumer takes a message with BRPOP, which removes it from the queue on the server
    before the worker has read the reply and recorded it as unacknowledged, so a worker that
    dies in between loses it. (A warm shutdown requeues it; SIGKILL, the OOM killer or a lost
    node do not.) The outbox row stays unfinished, since billing's inbox never shows the
    event, and the sweep sends the delivery again after the resend window.
    """
    # The test relays, at the moment it chooses.
    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = False
    (rider,) = _riders_paying_by_card(make_user, 1)
    env = _worker_env(broker)
    with (
        publishing_to(broker.url, queue=broker.queue, transport_options=broker.transport_options()),
        _workers(env) as start_frozen,
        _workers(env, beat_folder=tmp_path) as start,
    ):
        first = start_frozen()
        for _ in range(5):
            (trip_id,) = _trips_completed([rider], 1)
            time.sleep(0.5)  # idle again, waiting on the broker for its next message
            os.killpg(first.pid, signal.SIGSTOP)
            outbox_relay.apply(args=("trips",))
            if _messages_waiting(broker) == 0:
                break  # the broker handed the delivery to the frozen worker
            # Redis: its wait for a message had just ended. Let it work, and try again.
            os.killpg(first.pid, signal.SIGCONT)
            _wait(
                partial(_invoiced, trip_id),
                "the invoice",
                timeout=30,
                log=first.log,
            )
        else:
            pytest.fail("the broker never handed a delivery to the frozen worker")
        first.kill()

        second = start()
        _trips_invoiced_wait(
            partial(_invoiced, trip_id),
            "the invoice, once the delivery is sent again",
            [trip_id],
            timeout=RESEND_AFTER + 2 * SWEEP_EVERY + 20,
            log=second.log,
        )
        # Which way it came back: Redis lost it and the sweep sent it again; RabbitMQ requeued
        # the message itself, handled long before the resend window ended.
        resent = "deliveries relayed but never handled, sent again" in second.log()
        assert resent is broker.is_redis, second.log()
    _assert_each_trip_invoiced_once([trip_id])


def _invoiced(trip_id: uuid.UUID) -> bool:
    return Invoice.objects.filter(trip_id=trip_id).exists()


def _at_least(rows: Any, count: int) -> bool:
    return bool(rows.count() >= count)


def _messages_waiting(under_test: Broker) -> int:
    """Messages in the test's queue that no consumer has taken."""
    with Connection(under_test.url, transport_options=under_test.transport_options()) as broker:
        channel: Any = broker.default_channel
        if under_test.is_redis:
            # The queue is a list (no key when empty); a passive declare answers "no queue"
            # whatever it holds. The channel's client adds the key prefix itself.
            return int(channel.client.llen(under_test.queue))
        return int(channel.queue_declare(queue=under_test.queue, passive=True).message_count)


def test_workers_killed_again_and_again_invoice_and_charge_every_trip_once(
    broker: Broker,
    make_user: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """TRIPS_UNDER_KILLS trips completed; their worker SIGKILLed KILLS times at staggered
    moments while it works through them (two pool processes, beat's sweep), restarted each
    time: every trip ends with one invoice, paid by one charge.

    On Redis a kill can land after the worker took a delivery and before it read it: that one
    is lost there and sent again by the sweep after the resend window.
    """
    riders = _riders_paying_by_card(make_user, RIDERS)
    env = _worker_env(broker)
    chance = random.Random(4)
    with publishing_to(
        broker.url, queue=broker.queue, transport_options=broker.transport_options()
    ):
        # Relays queued after each completion wait in the broker for the first worker.
        trip_ids = _trips_completed(riders, TRIPS_UNDER_KILLS)
        with _workers(env, concurrency=2, beat_folder=tmp_path) as start:
            issued = Invoice.objects.filter(trip_id__in=trip_ids)
            for kill in range(1, KILLS + 1):
                worker = start()
                target = kill * TRIPS_UNDER_KILLS // (KILLS + 1)
                _wait(
                    partial(_at_least, issued, target),
                    f"{target} invoices",
                    timeout=60,
                    log=worker.log,
                )
                time.sleep(chance.uniform(0, 0.3))
                for _ in range(5):
                    # Killed in the middle of its work, not between tasks. The work left may
                    # be waiting for the sweep to resend what an earlier kill lost on Redis.
                    _wait(
                        partial(_working, worker),
                        "a delivery in flight",
                        timeout=RESEND_AFTER + 2 * SWEEP_EVERY + 10,
                        log=worker.log,
                    )
                    worker.kill()
                    if _in_flight(worker.log()):
                        break
                    # Its task ended between the look and the kill: that kill does not count.
                    worker = start()
                else:
                    pytest.fail("no kill landed in the middle of a delivery in 5 tries")
            last = start()
            _trips_invoiced_wait(
                lambda: issued.filter(status=Invoice.Status.PAID).count() == TRIPS_UNDER_KILLS,
                "every invoice paid",
                trip_ids,
                # A delivery Redis lost with the last kill comes back with the sweep.
                timeout=RESEND_AFTER + 2 * SWEEP_EVERY + 30,
                log=last.log,
            )

    _assert_each_invoice_charged_once(_assert_each_trip_invoiced_once(trip_ids))


def test_trips_completed_while_the_broker_is_down_are_invoiced_once_when_it_is_back(
    tmp_path: Path,
) -> None:
    """The broker is stopped; 1,000 trips complete (each relay after commit fails fast and is
    swallowed); the broker comes back empty; beat's outbox sweep relays every event."""
    tariff_ensure()
    trip_ids = _trips_under_way(TRIPS_DURING_OUTAGE)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with private_redis(tmp_path / "redis") as redis_server:
        env = Broker(url=redis_server.url, queue=queue, key_prefix="").worker_env(
            DATABASE_URL=database_url(connection.settings_dict)
        )
        with (
            publishing_to(redis_server.url, queue=queue),
            _workers(env, concurrency=4, beat_folder=tmp_path) as start,
        ):
            worker = start()
            redis_server.stop()

            started = time.monotonic()
            _trips_finish(trip_ids, side_by_side=RIDERS)
            completing = time.monotonic() - started
            assert Trip.objects.filter(id__in=trip_ids, status=TripStatus.COMPLETED).count() == (
                TRIPS_DURING_OUTAGE
            )
            unrelayed = TripsOutbox.objects.filter(name=TripCompleted.name, relayed_at=None)
            assert unrelayed.count() == TRIPS_DURING_OUTAGE
            assert not Invoice.objects.exists()

            redis_server.start()
            back = time.monotonic()
            _wait(
                lambda: Invoice.objects.count() >= TRIPS_DURING_OUTAGE,
                f"{TRIPS_DURING_OUTAGE} invoices",
                timeout=180,
                log=worker.log,
            )
            recovering = time.monotonic() - back
            _wait(
                lambda: not unrelayed.exists(),
                "every TripCompleted relayed",
                timeout=30,
                log=worker.log,
            )

    assert Invoice.objects.count() == TRIPS_DURING_OUTAGE
    _assert_each_trip_invoiced_once(trip_ids)
    print(  # noqa: T201 - the figures the report quotes
        f"\n{TRIPS_DURING_OUTAGE} trips completed with the broker down in {completing:.1f} s; "
        f"all invoiced {recovering:.1f} s after it came back"
    )


@pytest.mark.parametrize("broker_kind", ["redis", "amqp"])
def test_publishing_to_a_broker_that_never_answers_fails_instead_of_hanging(
    broker_kind: str,
) -> None:
    """The relay queued after a commit publishes on the request's path: a broker that accepts
    the connection and then says nothing must cost the request an error, not the request."""
    outcome: list[BaseException | None] = []

    def publish() -> None:
        try:
            outbox_relay.delay("trips")
        except BaseException as exc:  # the outcome under test, whatever it is
            outcome.append(exc)
        else:
            outcome.append(None)

    with silent_broker() as port:
        url = {
            "redis": f"redis://127.0.0.1:{port}/0",
            "amqp": f"amqp://guest:guest@127.0.0.1:{port}//",
        }[broker_kind]
        with publishing_to(url, queue=f"test-{uuid.uuid4().hex[:12]}"):
            publisher = threading.Thread(target=publish, daemon=True)
            publisher.start()
            # Generous: the settings bound it to a few seconds; unbounded, it never returns.
            publisher.join(timeout=60)
    assert not publisher.is_alive(), "publishing to a silent broker hangs"
    (error,) = outcome
    assert isinstance(error, OperationalError), error
