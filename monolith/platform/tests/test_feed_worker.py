"""Nobody runs a command: the monolith's worker, with its beat, reads the trips service's feed
and billing invoices a cohort rider's trip, completed in the service, on its own.

Real processes: the monolith and the trips service under gunicorn, and the monolith's Celery
worker with beat embedded (``-B``), on the harness's own queue so no other test's tasks
reach it. The figure printed (seconds from the completion's answer to the invoice) is the
crossing time the pull interval bounds; the test waits for it with a generous deadline and
does not judge it.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monolith.platform.edge.tests.processes import Edge, edge_processes
from monolith.platform.interservice.tests.test_deployables import ROUTE
from monolith.platform.tests.test_feed_processes import TARIFF, _as_staff
from monolith.platform.worker_process import celery_worker

DEADLINE_SECONDS = 90


def _prepare(edge: Edge) -> None:
    edge.cohort(
        "route", "trips", "--add-user", "rider-ann", "--by", "mover", "--reason", "feed worker"
    )
    edge.monolith.manage("shell", "-c", TARIFF)


@pytest.fixture(scope="module")
def edge(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    logs = tmp_path_factory.mktemp("feed-worker")
    with (
        django_db_blocker.unblock(),
        edge_processes(
            logs,
            monolith_env={"FLEET_EVENT_PULL_SECONDS": "1"},
            before_start=_prepare,
        ) as edge,
    ):
        yield edge


def test_the_monoliths_worker_pulls_and_invoices_a_trip_completed_in_the_service(
    edge: Edge, tmp_path: Path
) -> None:
    status, headers, trip = edge.as_rider("rider-ann", "POST", "/api/v1/trips/", ROUTE)
    assert (status, headers["X-Served-By"]) == (201, "service"), trip
    trip_id = trip["id"]
    assert _as_staff(edge, "POST", f"/api/v1/trips/{trip_id}/start/")[0] == 200

    beat = ["-B", f"--schedule={tmp_path / 'beat-schedule'}"]
    # The harness's own queue: no other test's tasks reach this worker.
    queue = edge.monolith.env["CELERY_TASK_DEFAULT_QUEUE"]
    with celery_worker(edge.monolith.env, queues=[queue], extra_args=beat) as worker:
        status, completed = _as_staff(
            edge,
            "POST",
            f"/api/v1/trips/{trip_id}/complete/",
            {"distance_km": "3.10", "duration_seconds": 600},
        )
        assert status == 200, completed
        started = time.monotonic()
        invoices: list[Any] = []
        while not invoices and time.monotonic() - started < DEADLINE_SECONDS:
            time.sleep(0.2)
            invoices = edge.sql(
                edge.monolith,
                "SELECT rider_id::text FROM billing_invoice WHERE trip_id = %s",
                trip_id,
            )
        crossed = time.monotonic() - started
        assert invoices == [(edge.riders["rider-ann"][0],)], worker.log()[-4000:]
    print(f"completed in the service -> invoiced in the monolith: {crossed:.2f} s")  # noqa: T201
    # The trip itself came with it, as the service has it.
    assert edge.sql(edge.monolith, "SELECT status FROM trips_trip WHERE id = %s", trip_id) == [
        ("completed",)
    ]
    # Delivered once: one inbox row for billing.
    assert edge.sql(
        edge.monolith,
        "SELECT count(*) FROM billing_inbox b JOIN trips_outbox o ON o.id = b.event_id "
        "WHERE o.aggregate_id = %s AND o.name = 'trips.TripCompleted'",
        trip_id,
    ) == [(1,)]
