"""Integration: one aggregate's events are handled in publish order by a real worker with two
pool processes, even when the broker hands them over newest first.

The worker runs ``monolith.platform.tests.order_probe.settings``: the test settings plus a
test-only app whose handler (trips handling ``VehicleProbeStepped``) appends each step it
handles to a file. This process subscribes the same handler, so its relay computes the same
predecessors the worker's would.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from modules.trips.models import Inbox as TripsInbox
from modules.trips.models import ParkedDelivery as TripsParkedDelivery
from monolith.celery import app
from monolith.platform.deployable_process import database_url
from monolith.platform.events import publish
from monolith.platform.outbox import machinery
from monolith.platform.registry import module_atomic
from monolith.platform.tests.order_probe.events import (
    PROBE_FILE_VARIABLE,
    VehicleProbeStepped,
    order_probe_subscribed,
)
from monolith.platform.tests.outbox_support import worker_wait
from monolith.platform.tests.test_worker_process import FAST_START, Broker
from monolith.platform.worker_process import WorkerHandle, celery_worker

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = 6
# Short enough for the parking test to wait out.
MAX_WAIT_SECONDS = 3


@pytest.fixture
def probe_file(tmp_path: Path) -> Path:
    return tmp_path / "handled"


@pytest.fixture
def worker(probe_file: Path, settings: Any) -> Iterator[WorkerHandle]:
    """Two pool processes on the test database and a queue of their own, with the probe."""
    # The test sends the deliveries itself, in the order it chooses.
    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = False
    queue = f"test-{uuid.uuid4().hex[:12]}"
    broker = Broker(url=settings.CELERY_BROKER_URL, queue=queue, key_prefix="")
    env = {
        **broker.worker_env(),
        "DJANGO_SETTINGS_MODULE": "monolith.platform.tests.order_probe.settings",
        "CELERY_BROKER_KEY_PREFIX": "",
        "DATABASE_URL": database_url(connection.settings_dict),
        "FLEET_EVENT_ORDER_MAX_WAIT_SECONDS": str(MAX_WAIT_SECONDS),
        PROBE_FILE_VARIABLE: str(probe_file),
    }
    default_queue = app.conf.task_default_queue
    try:
        with (
            order_probe_subscribed(),
            celery_worker(env, queues=[queue], concurrency=2, extra_args=FAST_START) as handle,
        ):
            app.conf.task_default_queue = queue
            yield handle
    finally:
        app.conf.task_default_queue = default_queue
        broker.remove_test_state()


def _publish_steps(vehicle_id: uuid.UUID, steps: range) -> list[dict[str, Any]]:
    """Publish the steps (a transaction each) and relay them here; the deliveries, in order."""
    for step in steps:
        with module_atomic("vehicles"):
            publish(VehicleProbeStepped(vehicle_id=vehicle_id, step=step))
    deliveries: list[dict[str, Any]] = []
    machinery.outbox_relay_run("vehicles", send=lambda **d: deliveries.append(d))
    return deliveries


def _handled(probe_file: Path, vehicle_id: uuid.UUID) -> list[int]:
    lines = probe_file.read_text().splitlines() if probe_file.exists() else []
    return [int(step) for vehicle, step in map(str.split, lines) if vehicle == str(vehicle_id)]


def test_deliveries_sent_newest_first_are_handled_in_publish_order(
    worker: WorkerHandle, probe_file: Path
) -> None:
    vehicle = uuid.uuid4()
    deliveries = _publish_steps(vehicle, range(1, STEPS + 1))
    assert [d["subscriber"] for d in deliveries] == ["trips"] * STEPS

    for delivery in reversed(deliveries):
        machinery.delivery_send(**delivery)

    worker_wait(lambda: len(_handled(probe_file, vehicle)) == STEPS, "every step", worker)
    assert _handled(probe_file, vehicle) == list(range(1, STEPS + 1))
    # The inbox agrees: each row was written after its predecessor's committed.
    processed = TripsInbox.objects.filter(subscriber="trips").order_by("id")
    assert [row.event_id for row in processed] == [uuid.UUID(d["event_id"]) for d in deliveries]
    # The newest step reached the worker first and had to wait (a delivery that waits ends
    # its run with False and is sent again).
    assert "succeeded" in worker.log()
    assert worker.log().count("platform.deliver") > STEPS
    assert not TripsParkedDelivery.objects.exists()


def test_a_delivery_whose_predecessor_never_comes_is_parked_naming_it(
    worker: WorkerHandle, probe_file: Path
) -> None:
    vehicle = uuid.uuid4()
    first, second = _publish_steps(vehicle, range(1, 3))

    machinery.delivery_send(**second)  # the first is lost on its way
    worker_wait(
        TripsParkedDelivery.objects.exists, "parking", worker, timeout=MAX_WAIT_SECONDS + 20
    )

    parked = TripsParkedDelivery.objects.get()
    assert str(parked.event_id) == second["event_id"]
    assert f"waits for {VehicleProbeStepped.name} {first['event_id']}" in parked.last_error
    assert _handled(probe_file, vehicle) == []

    # Once the first arrives, staff retry the second, and both are handled in order.
    machinery.delivery_send(**first)
    worker_wait(lambda: _handled(probe_file, vehicle) == [1], "the first step", worker)
    machinery.parked_deliveries_retry("trips", TripsParkedDelivery.objects.all())
    worker_wait(lambda: _handled(probe_file, vehicle) == [1, 2], "the retried step", worker)


def test_steps_relayed_after_each_commit_are_all_handled_in_order(
    worker: WorkerHandle, probe_file: Path, settings: Any
) -> None:
    """The production path: each commit queues a relay unless one already has to take its
    row; the worker's relays drain what is waiting and its deliveries keep the order."""
    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = True
    vehicles = [uuid.uuid4() for _ in range(3)]
    for step in range(1, 11):
        for vehicle in vehicles:
            with module_atomic("vehicles"):
                publish(VehicleProbeStepped(vehicle_id=vehicle, step=step))

    def every_step_handled() -> bool:
        return all(len(_handled(probe_file, vehicle)) == 10 for vehicle in vehicles)

    worker_wait(every_step_handled, "every step", worker)
    for vehicle in vehicles:
        assert _handled(probe_file, vehicle) == list(range(1, 11))
    assert not TripsParkedDelivery.objects.exists()
