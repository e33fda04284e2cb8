"""Routing per call between real processes: the monolith and the trips service under gunicorn.

Each deployable has its own database. rider-ann is named in trips' cohort, so her trips live in
the service's database; rider-bo's live in the monolith's. Code outside the trips module in the
monolith (the probe under billing's API, billing's own services in a management command) calls
``trips.api`` as billing does: for ann the call goes to the service, for bo it runs here.
"""

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from monolith.cohorts.rules import cohort_bucket, route_flag_name
from monolith.platform.edge.tests.processes import Edge, edge_processes
from monolith.platform.interservice.tests.test_deployables import ROUTE, Deployable

PROBE = "/api/v1/billing/trips-probe/"
MOVERS = 10  # riders the widening test moves across the line
# More riders for the widening test, each with a DRF token: {username: [account id, token]}.
MOVERS_SEED = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from monolith.platform.access import Role
riders = {}
for n in range(int(os.environ["MOVERS"])):
    user = get_user_model().objects.create_user(username=f"rider-{n:02}")
    user.groups.add(Group.objects.get(name=Role.RIDER.value))
    riders[user.username] = [str(user.id), Token.objects.create(user=user).key]
print(json.dumps(riders))
"""
# Billing's code in a management command: no request, so the code says whom it acts for.
OUTSIDE_A_REQUEST = """
import json, os, uuid
from modules.billing import services
from modules.trips import api as trips_api
from monolith.platform.errors import FleetError
from monolith.platform.interservice.acting import acting_as
out = {}
for rider, trip in json.loads(os.environ["PAIRS"]):
    rider, trip = uuid.UUID(rider), uuid.UUID(trip)
    with acting_as(rider):
        seen = {"trips": [str(t.id) for t in trips_api.trip_list_for_rider(rider_id=rider)]}
        if os.environ["RELEASE"] == "yes":
            hold = services.booking_hold_release(rider_id=rider, trip_id=trip, why="routing test")
            seen["hold"] = hold.status if hold else None
        try:
            seen["started"] = trips_api.trip_start(trip_id=trip).status
        except FleetError as error:
            seen["refused"] = [error.status, error.code, error.retry_after]
    out[str(rider)] = seen
print(json.dumps(out))
"""


def account(edge: Edge, name: str) -> str:
    return edge.riders[name][0]


def service_calls(edge: Edge, function: str) -> list[dict[str, Any]]:
    """The calls to ``trips.api.<function>`` the trips service answered for the monolith."""
    return [
        line
        for line in edge.trips.log_lines()
        if line.get("logger") == "fleet.interservice"
        and line.get("function") == function
        and line.get("caller") == "monolith"
    ]


def outside_a_request(edge: Edge, pairs: list[tuple[str, str]], *, release: bool) -> Any:
    """``OUTSIDE_A_REQUEST`` run by the monolith for (rider, trip) pairs: what each saw."""
    answer = edge.monolith.manage(
        "shell",
        "-c",
        OUTSIDE_A_REQUEST,
        PAIRS=json.dumps(pairs),
        RELEASE="yes" if release else "no",
    )
    return json.loads(answer)


def trip_status(edge: Edge, deployable: Deployable, trip_id: str) -> str | None:
    """The trip's status in ``deployable``'s database; None when it is not there."""
    rows = edge.sql(deployable, "SELECT status FROM trips_trip WHERE id = %s", trip_id)
    return str(rows[0][0]) if rows else None


def _prepare(edge: Edge) -> None:
    edge.monolith.wsgi = "monolith.platform.interservice.tests.probe_wsgi"
    movers = json.loads(edge.monolith.manage("shell", "-c", MOVERS_SEED, MOVERS=str(MOVERS)))
    edge.riders.update({name: tuple(pair) for name, pair in movers.items()})
    edge.cohort(
        "route", "trips", "--add-user", "rider-ann", "--by", "mover", "--reason", "routing per call"
    )


@pytest.fixture(scope="module")
def split(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    monolith_env = {
        # Each decision checks the announced version: a cohort change made by the command is
        # followed by the next request, not within a refresh.
        "COHORT_ROUTING_REFRESH_MS": "0",
        "FLEET_INTERSERVICE_RETRY_BACKOFF_MS": "1",
        # The outage test is about fallback, not the breaker: it must not stay open after.
        "FLEET_INTERSERVICE_BREAKER_FAILURES": "1000",
    }
    logs = tmp_path_factory.mktemp("routed")
    with (
        django_db_blocker.unblock(),
        edge_processes(logs, monolith_env=monolith_env, before_start=_prepare) as edge,
    ):
        yield edge


@pytest.fixture(scope="module")
def trips_booked(split: Edge) -> dict[str, str]:
    """ann's trip, booked through the edge (the service's database), and bo's (the monolith's)."""
    booked = {}
    for name, side in (("rider-ann", "service"), ("rider-bo", "monolith")):
        status, headers, body = split.as_rider(name, "POST", "/api/v1/trips/", ROUTE)
        assert (status, headers["X-Served-By"]) == (201, side), body
        booked[name] = body["id"]
    return booked


def test_a_cohort_riders_calls_from_another_module_are_served_by_the_service(
    split: Edge, trips_booked: dict[str, str]
) -> None:
    ann, bo = account(split, "rider-ann"), account(split, "rider-bo")
    ann_trip, bo_trip = trips_booked["rider-ann"], trips_booked["rider-bo"]
    # Each trip is in one database only.
    assert trip_status(split, split.trips, ann_trip) is not None
    assert trip_status(split, split.monolith, ann_trip) is None
    assert trip_status(split, split.monolith, bo_trip) is not None
    request_id = f"routed-{uuid.uuid4().hex[:8]}"

    def served(side: str) -> float:
        return split.monolith.metric(
            "fleet_routed_request_duration_seconds_count", module="trips", side=side
        )

    # In a request to billing's API: ann's trips are the service's, bo's the monolith's; each
    # call counted on its side with the module's REST traffic.
    before = served("service"), served("monolith")
    status, _, body = split.as_rider("rider-ann", "GET", PROBE, **{"X-Request-ID": request_id})
    assert (status, body) == (200, {"trips": [ann_trip]})
    assert (served("service"), served("monolith")) == (before[0] + 1, before[1])
    status, _, body = split.as_rider("rider-bo", "GET", PROBE)
    assert (status, body) == (200, {"trips": [bo_trip]})
    assert (served("service"), served("monolith")) == (before[0] + 1, before[1] + 1)
    calls = service_calls(split, "trip_list_for_rider")
    assert [(c["account_id"], c["request_id"], c["outcome"]) for c in calls] == [
        (ann, request_id, "ok")
    ]

    # Outside a request, billing's own code acting for each rider: the trip's booking
    # reference comes from the service for ann, from here for bo; both holds are released.
    seen = outside_a_request(split, [(ann, ann_trip), (bo, bo_trip)], release=True)
    assert seen[ann]["trips"] == [ann_trip]
    assert seen[bo]["trips"] == [bo_trip]
    assert (seen[ann]["hold"], seen[bo]["hold"]) == ("released", "released")
    # A write for ann's trip: started by the service, in the service's database.
    assert (seen[ann]["started"], seen[bo]["started"]) == ("in_progress", "in_progress")
    assert trip_status(split, split.trips, ann_trip) == "in_progress"
    assert {c["account_id"] for c in service_calls(split, "booking_credit_reference")} == {ann}
    assert {c["account_id"] for c in service_calls(split, "trip_start")} == {ann}


def test_widening_the_cohort_moves_exactly_the_riders_below_the_new_line(split: Edge) -> None:
    movers = [f"rider-{n:02}" for n in range(MOVERS)]
    buckets = {
        name: cohort_bucket(route_flag_name("trips"), account(split, name)) for name in movers
    }
    ordered = sorted(movers, key=buckets.__getitem__)

    def served_by_service(line: int) -> set[str]:
        split.cohort(
            "route", "trips", "--percent", str(Decimal(line) / 100), "--by", "mover",
            "--reason", "widen",
        )  # fmt: skip
        request_ids = {name: f"widen-{line}-{uuid.uuid4().hex[:8]}" for name in movers}
        for name in movers:
            status, _, _ = split.as_rider(name, "GET", PROBE, **{"X-Request-ID": request_ids[name]})
            assert status == 200
        reached = {c["request_id"] for c in service_calls(split, "trip_list_for_rider")}
        return {name for name in movers if request_ids[name] in reached}

    # The lines fall just above the 3rd and the 7th lowest bucket.
    first = served_by_service(buckets[ordered[2]] + 1)
    wider = served_by_service(buckets[ordered[6]] + 1)

    assert first == set(ordered[:3])
    assert wider == set(ordered[:7])


def test_with_the_service_killed_reads_fall_back_and_writes_are_refused(
    split: Edge, trips_booked: dict[str, str]
) -> None:
    ann, ann_trip = account(split, "rider-ann"), trips_booked["rider-ann"]
    service_status = trip_status(split, split.trips, ann_trip)
    fallbacks = split.monolith.metric("fleet_interservice_routed_calls_total", outcome="fallback")
    split.trips.stop()
    try:
        # A read in a request: answered by the monolith from its own database (no trip of ann's).
        status, _, body = split.as_rider("rider-ann", "GET", PROBE)
        assert (status, body) == (200, {"trips": []})

        # A write in a request: 503 with Retry-After, never run here.
        status, headers, body = split.as_rider("rider-ann", "POST", PROBE, {"trip_id": ann_trip})
        assert status == 503, body
        assert int(headers["Retry-After"]) >= 1
        assert body["code"] == "module_unavailable"

        # The same outside a request.
        seen = outside_a_request(split, [(ann, ann_trip)], release=False)[ann]
        assert seen["trips"] == []
        assert seen["refused"][:2] == [503, "module_unavailable"]
        assert seen["refused"][2] >= 1
    finally:
        split.trips.start()

    assert (
        split.monolith.metric("fleet_interservice_routed_calls_total", outcome="fallback")
        == fallbacks + 1
    )  # the management command's process counts its own
    assert (
        split.monolith.metric("fleet_interservice_routed_calls_total", outcome="unavailable") >= 1
    )
    # Nothing was applied anywhere: the trip is as it was, and still only the service's.
    assert trip_status(split, split.trips, ann_trip) == service_status
    assert trip_status(split, split.monolith, ann_trip) is None
    # Back: ann's calls reach the service again.
    status, _, body = split.as_rider("rider-ann", "GET", PROBE)
    assert (status, body) == (200, {"trips": [ann_trip]})
