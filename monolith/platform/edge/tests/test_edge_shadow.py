"""Shadow mode between real processes: the monolith serves, and its reads are also sent to the
trips service (gunicorn, its own database, backfilled from the monolith's) and compared.

The monolith runs one shadow thread, so shadows are compared in the order they were queued:
once a later read's comparison is counted, every earlier one is done. Whether a read was
shadowed is counted before its answer leaves the monolith (``fleet_shadow_reads_total``), so a
test reads it right after the answer; comparisons are awaited.
"""

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from monolith.platform.edge.tests.processes import Edge, edge_processes
from monolith.platform.interservice.tests.test_deployables import ROUTE

COUNTED = ("queued", "dropped", "skipped", "match", "mismatch", "error")
VOLATILE = {"trips": ["cancel_note", "results.requested_at"]}


def counts(edge: Edge) -> dict[str, float]:
    """The monolith's shadow counters for trips, by fate and outcome."""
    _, _, text = edge.monolith.request("GET", "/metrics")
    found = dict.fromkeys(COUNTED, 0.0)
    for line in text.splitlines():
        if not line.startswith(("fleet_shadow_reads_total{", "fleet_shadow_comparisons_total{")):
            continue
        if 'module="trips"' not in line:
            continue
        for name in COUNTED:
            if f'fate="{name}"' in line or f'outcome="{name}"' in line:
                found[name] += float(line.rsplit(" ", 1)[1])
    return found


def _done(counted: dict[str, float]) -> float:
    return counted["match"] + counted["mismatch"] + counted["error"]


def compared(edge: Edge, before: dict[str, float], reads: int) -> dict[str, float]:
    """Wait until ``reads`` more shadow reads are compared (or failed); what grew since
    ``before``."""
    deadline = time.monotonic() + 30
    while True:
        now = counts(edge)
        grown = {name: now[name] - before[name] for name in COUNTED}
        if _done(grown) >= reads or time.monotonic() > deadline:
            return grown
        time.sleep(0.05)


def settled(edge: Edge) -> dict[str, float]:
    """The counts once every shadow read queued so far is compared."""
    deadline = time.monotonic() + 30
    while True:
        now = counts(edge)
        if _done(now) >= now["queued"] or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def read_raw(
    edge: Edge, rider: str, path: str, *, method: str = "GET", request_id: str = ""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request to the monolith as ``rider``: status, headers and body as they came."""
    connection = http.client.HTTPConnection("127.0.0.1", edge.monolith.port, timeout=30)
    headers = {"Host": "localhost", "Authorization": f"Token {edge.riders[rider][1]}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    answer = response.status, response.getheaders(), response.read()
    connection.close()
    return answer


def mismatches(edge: Edge, request_id: str) -> list[dict[str, Any]]:
    rows = edge.sql(
        edge.monolith,
        "SELECT module, method, path, route, account_id::text, monolith_status, service_status,"
        " differing, diff FROM cohorts_shadowmismatch WHERE request_id = %s",
        request_id,
    )
    names = "module method path route account_id monolith_status service_status differing diff"
    return [dict(zip(names.split(), row, strict=True)) for row in rows]


def shadow_set(edge: Edge, state: str) -> None:
    """Turn shadow mode on or off and wait until the monolith follows (a read shows it)."""
    edge.cohort("shadow", "trips", state, "--by", "mover", "--reason", f"shadow test: {state}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = counts(edge)["queued"]
        read_raw(edge, "rider-bo", "/api/v1/trips/")
        if (counts(edge)["queued"] > before) == (state == "on"):
            settled(edge)
            return
        time.sleep(0.05)
    raise AssertionError(f"the monolith did not turn shadow mode {state}")


@pytest.fixture(scope="module")
def shadowed(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """Both riders have a trip, booked in the monolith and backfilled into the service;
    shadow mode is on for trips."""
    logs = tmp_path_factory.mktemp("shadow")
    environment = {
        "COHORT_SHADOW_WORKERS": "1",
        "COHORT_SHADOW_VOLATILE_FIELDS": json.dumps(VOLATILE),
        "COHORT_TRAFFIC_FLUSH_SECONDS": "0",
    }
    with django_db_blocker.unblock(), edge_processes(logs, monolith_env=environment) as edge:
        for rider in ("rider-ann", "rider-bo"):
            status, headers, body = edge.as_rider(rider, "POST", "/api/v1/trips/", ROUTE)
            assert (status, headers["X-Served-By"]) == (201, "monolith"), body
        edge.monolith.manage(
            "strangler",
            "backfill",
            "trips",
            "--target-database-url",
            edge.trips.env["DATABASE_URL"],
        )
        shadow_set(edge, "on")
        yield edge


def trip_of(edge: Edge, rider: str) -> str:
    account = uuid.UUID(edge.riders[rider][0])
    ((trip_id,),) = edge.sql(
        edge.monolith, "SELECT id::text FROM trips_trip WHERE rider_id = %s", account
    )
    return str(trip_id)


def test_reads_of_identical_data_are_compared_and_match(shadowed: Edge) -> None:
    edge = shadowed
    request_id = f"shadow-same-{uuid.uuid4().hex[:8]}"
    bo_trip, ann_trip = trip_of(edge, "rider-bo"), trip_of(edge, "rider-ann")
    before = settled(edge)
    reads = [
        ("rider-bo", "GET", "/api/v1/trips/", 200),
        ("rider-bo", "GET", f"/api/v1/trips/{bo_trip}/", 200),
        ("rider-ann", "GET", "/api/v1/trips/?ordering=requested_at", 200),
        ("rider-bo", "HEAD", "/api/v1/trips/", 200),
        # Another rider's trip: 404 on both sides, which is a match too.
        ("rider-bo", "GET", f"/api/v1/trips/{ann_trip}/", 404),
    ]
    for rider, method, path, expected in reads:
        status, headers, _ = read_raw(edge, rider, path, method=method, request_id=request_id)
        assert (status, dict(headers)["X-Served-By"]) == (expected, "monolith")

    grown = compared(edge, before, len(reads))
    assert grown == {**dict.fromkeys(COUNTED, 0.0), "queued": 5, "match": 5}
    assert mismatches(edge, request_id) == []
    # The service was asked the same reads, under the caller's request id.
    seen = [
        (line["method"], line["path"], line["status"])
        for line in edge.trips.log_lines()
        if line.get("logger") == "fleet.access" and line.get("request_id") == request_id
    ]
    assert sorted(seen) == sorted(
        (method, path.split("?")[0], expected) for _, method, path, expected in reads
    )


def test_a_row_changed_only_in_the_service_is_a_mismatch_with_a_diff_naming_the_field(
    shadowed: Edge,
) -> None:
    edge = shadowed
    trip_id = trip_of(edge, "rider-bo")
    request_id = f"shadow-diff-{uuid.uuid4().hex[:8]}"
    edge.execute(
        edge.trips, "UPDATE trips_trip SET distance_km = 12.34 WHERE id = %s", uuid.UUID(trip_id)
    )
    try:
        before = settled(edge)
        status, _, body = read_raw(
            edge, "rider-bo", f"/api/v1/trips/{trip_id}/?v=1", request_id=request_id
        )
        grown = compared(edge, before, 1)
    finally:
        edge.execute(
            edge.trips, "UPDATE trips_trip SET distance_km = NULL WHERE id = %s", uuid.UUID(trip_id)
        )

    assert (status, json.loads(body)["distance_km"]) == (200, None)  # the monolith's answer
    assert (grown["queued"], grown["mismatch"], grown["match"]) == (1, 1, 0)
    (mismatch,) = mismatches(edge, request_id)
    assert {key: mismatch[key] for key in ("module", "method", "path", "route")} == {
        "module": "trips",
        "method": "GET",
        "path": f"/api/v1/trips/{trip_id}/?v=1",
        "route": "api/v1/trips/<uuid:trip_id>/",
    }
    assert mismatch["account_id"] == edge.riders["rider-bo"][0]
    assert (mismatch["monolith_status"], mismatch["service_status"]) == (200, 200)
    assert mismatch["differing"] == "distance_km"
    assert 'distance_km: monolith null, service "12.34"' in mismatch["diff"]
    assert '-  "distance_km": null,' in mismatch["diff"].splitlines()
    assert '+  "distance_km": "12.34",' in mismatch["diff"].splitlines()

    status_text = edge.cohort("status", "trips")
    totals = counts(edge)
    rate = totals["mismatch"] / (totals["match"] + totals["mismatch"])
    assert (
        f"shadow     on, mismatches {rate:.1%} ({totals['mismatch']:.0f} of "
        f"{totals['match'] + totals['mismatch']:.0f} compared)"
    ) in status_text


def test_a_volatile_field_that_differs_is_not_a_mismatch(shadowed: Edge) -> None:
    edge = shadowed
    trip_id = uuid.UUID(trip_of(edge, "rider-bo"))
    request_id = f"shadow-volatile-{uuid.uuid4().hex[:8]}"
    edge.execute(
        edge.trips,
        "UPDATE trips_trip SET cancel_note = 'the service says so',"
        " requested_at = requested_at - interval '1 minute' WHERE id = %s",
        trip_id,
    )
    try:
        before = settled(edge)
        # cancel_note is volatile at any depth; results.requested_at only in the list.
        read_raw(edge, "rider-bo", "/api/v1/trips/", request_id=request_id)
        read_raw(edge, "rider-bo", f"/api/v1/trips/{trip_id}/", request_id=request_id)
        grown = compared(edge, before, 2)
    finally:
        edge.execute(
            edge.trips,
            "UPDATE trips_trip SET cancel_note = '',"
            " requested_at = requested_at + interval '1 minute' WHERE id = %s",
            trip_id,
        )

    assert (grown["match"], grown["mismatch"]) == (1, 1)
    (mismatch,) = mismatches(edge, request_id)
    assert mismatch["path"] == f"/api/v1/trips/{trip_id}/"
    assert mismatch["differing"] == "requested_at"
    assert "cancel_note" not in mismatch["diff"]


def test_writes_are_never_shadowed(shadowed: Edge) -> None:
    edge = shadowed
    ann_trip = trip_of(edge, "rider-ann")
    request_id = f"shadow-write-{uuid.uuid4().hex[:8]}"
    before = settled(edge)

    # A refused booking (409, JSON, as comparable as a read) and an accepted cancel.
    status, _, body = edge.as_rider(
        "rider-bo", "POST", "/api/v1/trips/", ROUTE, **{"X-Request-ID": request_id}
    )
    assert (status, body["code"]) == (409, "active_trip_exists")
    status, _, body = edge.as_rider(
        "rider-ann", "POST", f"/api/v1/trips/{ann_trip}/cancel/",
        {"reason": "rider_changed_mind"}, **{"X-Request-ID": request_id},
    )  # fmt: skip
    assert (status, body["status"]) == (200, "cancelled")
    assert counts(edge)["queued"] == before["queued"]
    # A read after them: once it is compared, anything queued before it was too.
    read_raw(edge, "rider-bo", "/api/v1/trips/")
    grown = compared(edge, before, 1)

    assert (grown["queued"], grown["match"] + grown["mismatch"] + grown["error"]) == (1, 1)
    assert edge.sql(
        edge.trips, "SELECT status FROM trips_trip WHERE id = %s", uuid.UUID(ann_trip)
    ) == [("assigned",)]
    assert not [
        line
        for line in edge.trips.log_lines()
        if line.get("logger") == "fleet.access" and line.get("request_id") == request_id
    ]


def test_the_answer_is_byte_identical_with_shadow_on_and_off(shadowed: Edge) -> None:
    edge = shadowed
    path = "/api/v1/trips/?ordering=requested_at&page_size=5"
    request_id = f"shadow-bytes-{uuid.uuid4().hex[:8]}"

    def answer() -> tuple[tuple[int, list[tuple[str, str]], bytes], bool]:
        before = counts(edge)["queued"]
        status, headers, body = read_raw(edge, "rider-bo", path, request_id=request_id)
        kept = [(name, value) for name, value in headers if name != "Date"]
        return (status, kept, body), counts(edge)["queued"] > before

    shadowed_answer, was_shadowed = answer()
    assert was_shadowed
    shadow_set(edge, "off")
    try:
        plain_answer, was_shadowed = answer()
        assert not was_shadowed
    finally:
        shadow_set(edge, "on")

    assert shadowed_answer == plain_answer
    assert shadowed_answer[0] == 200
    assert ("X-Served-By", "monolith") in shadowed_answer[1]


def test_with_the_service_down_reads_are_answered_and_the_error_counted(shadowed: Edge) -> None:
    edge = shadowed
    request_id = f"shadow-down-{uuid.uuid4().hex[:8]}"
    _, _, expected = read_raw(edge, "rider-bo", "/api/v1/trips/")
    settled(edge)
    edge.trips.stop()
    try:
        before = counts(edge)
        status, headers, body = read_raw(edge, "rider-bo", "/api/v1/trips/", request_id=request_id)
        grown = compared(edge, before, 1)
    finally:
        edge.trips.start()

    assert (status, dict(headers)["X-Served-By"], body) == (200, "monolith", expected)
    assert (grown["queued"], grown["error"], grown["match"], grown["mismatch"]) == (1, 1, 0, 0)
    assert mismatches(edge, request_id) == []
    assert f"{counts(edge)['error']:.0f} error" in edge.cohort("status", "trips")
