"""Events and row changes crossing between real processes: the monolith and the trips service.

rider-ann is in trips' cohort, so her trips are written in the service's database; rider-bo's
in the monolith's. ``manage.py events pull`` is what beat runs every few seconds; here it runs
when the test says, so each step's effect is seen on its own. The deliveries in the monolith
run in-process (``outbox_deliver_pending``: the worker's functions), so the invoice is made
by billing's real handler, whose ``trips.api`` call for rider-ann goes over HTTP to the service.
"""

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from monolith.platform.edge.tests.processes import Edge, edge_processes
from monolith.platform.interservice.tests.test_deployables import ROUTE

TARIFF = (
    "from datetime import timedelta\n"
    "from django.utils import timezone\n"
    "from modules.billing.models import Tariff\n"
    "Tariff.objects.create(name='Standard', currency='EUR', base_fare='2.00', per_km='1.10', "
    "per_minute='0.20', minimum_fare='5.00', effective_from=timezone.now() - timedelta(days=1))\n"
)
DELIVER = (
    "from monolith.platform.outbox.machinery import outbox_deliver_pending\n"
    "print(outbox_deliver_pending())\n"
)


def _route_ann(edge: Edge) -> None:
    edge.cohort(
        "route", "trips", "--add-user", "rider-ann", "--by", "mover", "--reason", "feed test"
    )
    edge.monolith.manage("shell", "-c", TARIFF)


@pytest.fixture(scope="module")
def edge(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    logs = tmp_path_factory.mktemp("feed")
    with django_db_blocker.unblock(), edge_processes(logs, before_start=_route_ann) as edge:
        yield edge


def _as_staff(edge: Edge, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A fleet-staff request answered by the service, as the edge would forward it."""
    from monolith.platform.interservice.tokens import internal_token_issue

    token = internal_token_issue(
        audience="trips",
        account_id=uuid.uuid4(),
        roles=["fleet-staff"],
        issuer="monolith",
        secret=edge.trips.env["FLEET_INTERNAL_TOKEN_SECRET"].encode(),
    )
    status, _, answer = edge.trips.request(method, path, body, **{"X-Fleet-Internal-Token": token})
    return status, answer


def _pulled(output: str) -> tuple[int, int]:
    """(events taken in, row changes applied) from one `events pull`."""
    found = re.search(r"(\d+) events taken in, (\d+) row changes applied", output)
    assert found, output
    return int(found[1]), int(found[2])


def test_a_cohort_riders_trip_reaches_the_monolith_is_invoiced_there_and_survives_a_rollback(
    edge: Edge,
) -> None:
    ann, _ = edge.riders["rider-ann"]
    status, headers, trip = edge.as_rider("rider-ann", "POST", "/api/v1/trips/", ROUTE)
    assert (status, headers["X-Served-By"]) == (201, "service"), trip
    trip_id = trip["id"]
    assert _as_staff(edge, "POST", f"/api/v1/trips/{trip_id}/start/")[0] == 200
    status, completed = _as_staff(
        edge,
        "POST",
        f"/api/v1/trips/{trip_id}/complete/",
        {"distance_km": "7.40", "duration_seconds": 1260},
    )
    assert (status, completed["status"]) == (200, "completed"), completed
    # Written in the service only, so far.
    assert not edge.sql(edge.monolith, "SELECT 1 FROM trips_trip WHERE id = %s", trip_id)

    received, applied = _pulled(edge.monolith.manage("events", "pull"))

    # The trip, as the service has it, is now in the monolith too; TripCompleted came with it,
    # into the monolith's outbox, marked as received from the service.
    assert applied >= 3  # created, started, completed (each a row change)
    assert edge.sql(
        edge.monolith, "SELECT status, rider_id::text FROM trips_trip WHERE id = %s", trip_id
    ) == [("completed", ann)]
    assert received == 1
    assert edge.sql(
        edge.monolith,
        "SELECT name, origin FROM trips_outbox WHERE aggregate_id = %s AND origin <> ''",
        trip_id,
    ) == [("trips.TripCompleted", "trips-service")]

    # Billing in the monolith invoices it, once, however often the feed is read.
    edge.monolith.manage("shell", "-c", DELIVER)
    assert _pulled(edge.monolith.manage("events", "pull")) == (0, 0)
    edge.monolith.manage("shell", "-c", DELIVER)
    invoices = edge.sql(
        edge.monolith,
        "SELECT rider_id::text, total FROM billing_invoice WHERE trip_id = %s",
        trip_id,
    )
    assert len(invoices) == 1, invoices
    assert invoices[0][0] == ann
    assert invoices[0][1] > 0

    # Rolled back: the monolith answers for rider-ann again, and her trip is there.
    edge.cohort(
        "route", "trips", "--remove-user", "rider-ann", "--by", "mover", "--reason", "rollback"
    )
    status, headers, listed = edge.as_rider("rider-ann", "GET", "/api/v1/trips/")
    assert (status, headers["X-Served-By"]) == (200, "monolith")
    assert [(t["id"], t["status"]) for t in listed["results"]] == [(trip_id, "completed")]


def test_the_monoliths_writes_reach_the_service_and_nothing_comes_back(edge: Edge) -> None:
    status, headers, trip = edge.as_rider("rider-bo", "POST", "/api/v1/trips/", ROUTE)
    assert (status, headers["X-Served-By"]) == (201, "monolith"), trip
    trip_id = trip["id"]
    status, headers, cancelled = edge.as_rider(
        "rider-bo", "POST", f"/api/v1/trips/{trip_id}/cancel/", {"reason": "rider_changed_mind"}
    )
    assert (status, cancelled["status"]) == (200, "cancelled")

    received, applied = _pulled(edge.trips.manage("events", "pull"))

    # A service reads row changes only: events are reacted to in the monolith.
    assert received == 0
    assert applied >= 2
    assert edge.sql(edge.trips, "SELECT status FROM trips_trip WHERE id = %s", trip_id) == [
        ("cancelled",)
    ]
    # Applied changes are not captured again: neither side sends the other its own rows back.
    assert _pulled(edge.monolith.manage("events", "pull"))[1] == 0
    assert _pulled(edge.trips.manage("events", "pull")) == (0, 0)
    captured = edge.sql(
        edge.trips,
        "SELECT count(*) FROM trips_outbox WHERE name = 'trips.RowChanged' AND aggregate_id = %s",
        trip_id,
    )
    assert captured == [(0,)]


def test_the_feed_refuses_a_call_without_a_feed_token(edge: Edge) -> None:
    status, _, body = edge.trips.request("GET", "/internal/v1/feed/trips?after=0")
    assert (status, body["code"]) == (401, "token_missing")
    # A token for the trips api is not one for the feed.
    status, _, body = edge.trips.request(
        "GET", "/internal/v1/feed/trips", **{"X-Fleet-Internal-Token": _api_token(edge)}
    )
    assert status == 403, body
    status, _, body = edge.trips.request(
        "GET", "/internal/v1/feed/trips?after=-1", **{"X-Fleet-Internal-Token": _feed_token(edge)}
    )
    assert (status, body["error"]["field"]) == (400, "after"), json.dumps(body)


def _api_token(edge: Edge) -> str:
    from monolith.platform.interservice.tokens import internal_token_issue

    return internal_token_issue(
        audience="trips", secret=edge.trips.env["FLEET_INTERNAL_TOKEN_SECRET"].encode()
    )


def _feed_token(edge: Edge) -> str:
    from monolith.platform.interservice.tokens import internal_token_issue

    return internal_token_issue(
        audience="feed", secret=edge.trips.env["FLEET_INTERNAL_TOKEN_SECRET"].encode()
    )
