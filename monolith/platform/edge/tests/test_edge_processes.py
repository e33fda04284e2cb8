"""The edge proxy between real processes: the monolith and the trips service under gunicorn.

Each deployable has its own database; a cohort rider's trips live in the service's. Riders
call the monolith with their DRF tokens; the monolith routes rider-ann (in trips' cohort) to
the service and rider-bo (outside it) to itself.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from monolith.platform.edge.tests.processes import Edge, edge_processes
from monolith.platform.interservice.tests.test_deployables import ROUTE


def _served_by(edge: Edge, rider: str) -> str:
    return edge.as_rider(rider, "GET", "/api/v1/trips/")[1].get("X-Served-By", "")


def _route_ann(edge: Edge) -> None:
    edge.cohort(
        "route", "trips", "--add-user", "rider-ann", "--by", "mover", "--reason", "edge proxy test"
    )


@pytest.fixture(scope="module")
def edge(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    logs = tmp_path_factory.mktemp("edge")
    with django_db_blocker.unblock(), edge_processes(logs, before_start=_route_ann) as edge:
        yield edge


def test_a_cohort_riders_requests_are_answered_by_the_service_and_others_by_the_monolith(
    edge: Edge,
) -> None:
    ann, _ = edge.riders["rider-ann"]
    request_id = f"edge-{uuid.uuid4().hex[:8]}"

    # A booking through the edge, with a body over 1 MB (an ignored field): sent on as read.
    padded = {**ROUTE, "note": "x" * (1536 * 1024)}
    status, headers, body = edge.as_rider(
        "rider-ann", "POST", "/api/v1/trips/", padded, **{"X-Request-ID": request_id}
    )

    assert status == 201, body
    assert headers["X-Served-By"] == "service"
    assert headers["X-Request-ID"] == request_id
    assert (body["rider_id"], body["status"]) == (ann, "assigned")
    trip_id = body["id"]
    # The trip is in the service's database only; the service saw the same request id.
    assert edge.sql(edge.trips, "SELECT rider_id::text FROM trips_trip WHERE id = %s", trip_id)
    assert not edge.sql(edge.monolith, "SELECT 1 FROM trips_trip WHERE id = %s", trip_id)
    assert any(
        line.get("request_id") == request_id and line.get("path") == "/api/v1/trips/"
        for line in edge.trips.log_lines()
        if line.get("logger") == "fleet.access"
    )

    # The service's refusal comes back unchanged: status and body.
    direct = edge.trips.request(
        "POST", "/api/v1/trips/", ROUTE, **{"X-Fleet-Internal-Token": _token(edge, ann)}
    )
    status, headers, body = edge.as_rider("rider-ann", "POST", "/api/v1/trips/", ROUTE)
    volatile = ("booking_id", "booking_url")  # each refusal names its own booking
    assert status == direct[0]
    assert {k: v for k, v in body.items() if k not in volatile} == {
        k: v for k, v in direct[2].items() if k not in volatile
    }
    # Built by the service for the host the client called (the Host is forwarded).
    assert body["booking_url"] == f"http://localhost/api/v1/trips/bookings/{body['booking_id']}/"
    assert (status, body["code"], headers["X-Served-By"]) == (409, "active_trip_exists", "service")

    # Reads: the service's data for the cohort rider, the monolith's for the other.
    status, headers, body = edge.as_rider("rider-ann", "GET", "/api/v1/trips/")
    assert (status, headers["X-Served-By"]) == (200, "service")
    assert [trip["id"] for trip in body["results"]] == [trip_id]
    status, headers, body = edge.as_rider("rider-bo", "GET", "/api/v1/trips/")
    assert (status, headers["X-Served-By"], body["results"]) == (200, "monolith", [])

    # A cancel through the edge reaches the service.
    status, headers, body = edge.as_rider(
        "rider-ann", "POST", f"/api/v1/trips/{trip_id}/cancel/", {"reason": "rider_changed_mind"}
    )
    assert (status, headers["X-Served-By"], body["status"]) == (200, "service", "cancelled")
    assert edge.sql(edge.trips, "SELECT status FROM trips_trip WHERE id = %s", trip_id) == [
        ("cancelled",)
    ]

    assert edge.monolith.metric("fleet_edge_requests_total", module="trips", side="service") == 4
    assert edge.monolith.metric("fleet_edge_requests_total", module="trips", side="monolith") == 1
    assert edge.monolith.metric("fleet_edge_proxy_duration_seconds_count", module="trips") == 4


def _token(edge: Edge, account: str) -> str:
    from monolith.platform.interservice.tokens import internal_token_issue

    return internal_token_issue(
        audience="trips",
        account_id=uuid.UUID(account),
        roles=["rider"],
        issuer="monolith",
        secret=edge.trips.env["FLEET_INTERNAL_TOKEN_SECRET"].encode(),
    )


def test_with_the_service_down_reads_fall_back_and_writes_are_refused_with_nothing_applied(
    edge: Edge,
) -> None:
    ann, _ = edge.riders["rider-ann"]
    trips_before = edge.sql(edge.trips, "SELECT count(*) FROM trips_trip")
    holds_before = edge.sql(edge.monolith, "SELECT count(*) FROM users_credithold")
    reserved_before = edge.sql(
        edge.monolith, "SELECT count(*) FROM vehicles_vehicle WHERE status = 'reserved'"
    )
    edge.trips.stop()
    try:
        status, headers, body = edge.as_rider("rider-ann", "GET", "/api/v1/trips/")
        assert (status, headers["X-Served-By"]) == (200, "monolith")
        assert body["results"] == []  # the monolith's own (empty) view of ann's trips

        status, headers, body = edge.as_rider("rider-ann", "POST", "/api/v1/trips/", ROUTE)
        assert status == 503, body
        assert int(headers["Retry-After"]) >= 1
        assert body["code"] == "module_unavailable"
        assert "nothing was applied" in body["detail"]
    finally:
        edge.trips.start()

    assert edge.sql(edge.trips, "SELECT count(*) FROM trips_trip") == trips_before
    assert not edge.sql(
        edge.monolith, "SELECT 1 FROM trips_trip WHERE rider_id = %s", uuid.UUID(ann)
    )
    assert edge.sql(edge.monolith, "SELECT count(*) FROM users_credithold") == holds_before
    assert (
        edge.sql(edge.monolith, "SELECT count(*) FROM vehicles_vehicle WHERE status = 'reserved'")
        == reserved_before
    )
    assert edge.monolith.metric("fleet_edge_requests_total", module="trips", side="fallback") >= 1
    assert (
        edge.monolith.metric("fleet_edge_requests_total", module="trips", side="unavailable") >= 1
    )
    # Back: the cohort rider is served by the service again.
    assert _served_by(edge, "rider-ann") == "service"
