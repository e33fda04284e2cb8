"""Per-call routing in the monolith: another module's call to trips.api goes where the rider is
routed, decided once per request (or by the acting account outside one), with no query.

The trips "service" here is a plain HTTP server on loopback that records what reaches it (the
real trips service under gunicorn: ``test_routed_processes.py``).
"""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from modules.trips import api as trips_api
from monolith.cohorts.routing import route_for_account
from monolith.cohorts.rules import Side, cohort_bucket, cohort_line, route_flag_name
from monolith.cohorts.snapshot import routing_rules
from monolith.platform.interservice.acting import acting_as
from monolith.platform.interservice.client import ModuleUnavailable, deployables_forget
from monolith.platform.interservice.codec import encode
from monolith.platform.interservice.routed import (
    routed_api_install,
    routed_api_uninstall,
    routed_apis_install,
)
from monolith.platform.interservice.tests.test_client import FlakyServer
from monolith.platform.interservice.tokens import internal_token_issue, internal_token_verify

pytestmark = pytest.mark.django_db

PROBE = "/api/v1/billing/trips-probe/"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def served(side: str) -> float:
    return sample("fleet_routed_request_duration_seconds_count", module="trips", side=side)


def routed_calls(outcome: str) -> float:
    return sample("fleet_interservice_routed_calls_total", module="trips", outcome=outcome)


def accounts_reached(server: FlakyServer) -> list[uuid.UUID | None]:
    return [
        internal_token_verify(
            call["headers"]["X-Fleet-Internal-Token"], audience="trips"
        ).account_id
        for call in server.calls
    ]


def summary_of(rider_id: uuid.UUID) -> trips_api.TripSummary:
    return trips_api.TripSummary(
        id=uuid.uuid4(),
        rider_id=rider_id,
        vehicle_id=None,
        status="assigned",
        origin_latitude=Decimal("52.521918"),
        origin_longitude=Decimal("13.413215"),
        destination_latitude=Decimal("52.516275"),
        destination_longitude=Decimal("13.377704"),
        requested_at=datetime(2030, 1, 1, tzinfo=UTC),
        started_at=None,
        completed_at=None,
        distance_km=None,
        duration_seconds=None,
        cancel_reason="",
    )


@pytest.fixture
def trips_service() -> Iterator[FlakyServer]:
    """This monolith routes trips, whose service is a recording server; trips.api is routed."""
    deployables_forget()
    with (
        FlakyServer() as server,
        override_settings(
            COHORT_ROUTED_MODULES=["trips"],
            ROOT_URLCONF="monolith.platform.interservice.tests.probe_urls",
            FLEET_INTERSERVICE_RETRY_BACKOFF_MS=1,
            FLEET_INTERSERVICE_BREAKER_FAILURES=100,
        ),
    ):
        routed_api_install("trips", server.url)
        try:
            yield server
        finally:
            routed_api_uninstall("trips")
            deployables_forget()


def test_a_cohort_riders_call_from_another_module_goes_to_the_service_with_identity(
    trips_service: FlakyServer,
    route: Callable[..., Any],
    rider: Any,
    other_rider: Any,
    client_for: Callable[[Any], Any],
) -> None:
    route(add_usernames=frozenset({rider.username}))
    in_service = summary_of(rider.pk)
    trips_service.answer = (200, {"result": [encode(in_service)]})
    service_before, monolith_before = served("service"), served("monolith")

    answer = client_for(rider).get(PROBE, HTTP_X_REQUEST_ID="probe-ann")

    assert answer.status_code == 200, answer.content
    assert answer.json() == {"trips": [str(in_service.id)]}
    (call,) = trips_service.calls
    assert call["path"] == "/internal/v1/trips/trip_list_for_rider"
    assert call["body"]["arguments"]["rider_id"] == str(rider.pk)
    assert call["headers"]["X-Request-ID"] == "probe-ann"
    claims = internal_token_verify(call["headers"]["X-Fleet-Internal-Token"], audience="trips")
    assert (claims.account_id, claims.request_id, claims.issuer) == (
        rider.pk,
        "probe-ann",
        "monolith",
    )

    # Outside the cohort: answered here, from this database (no trips), nothing sent.
    answer = client_for(other_rider).get(PROBE)
    assert (answer.status_code, answer.json()) == (200, {"trips": []})
    assert len(trips_service.calls) == 1

    assert served("service") == service_before + 1
    assert served("monolith") == monolith_before + 1


def test_the_modules_own_calls_to_its_api_stay_here(
    trips_service: FlakyServer, route: Callable[..., Any], rider: Any
) -> None:
    route(everyone=True)
    trip_id = uuid.uuid4()
    trips_service.answer = (200, {"result": f"trip:{trip_id}"})

    # The same call, made by code of the trips module and by code outside it.
    inside: dict[str, Any] = {"__name__": "modules.trips.handlers", "api": trips_api}
    exec("reference = api.booking_credit_reference(trip_id=trip_id)", inside, {"trip_id": trip_id})  # noqa: S102
    assert trips_service.calls == []
    assert trips_api.booking_credit_reference(trip_id=trip_id) == f"trip:{trip_id}"
    assert len(trips_service.calls) == 1


def test_outside_a_request_the_acting_account_decides_with_no_query(
    trips_service: FlakyServer,
    route: Callable[..., Any],
    rider: Any,
    other_rider: Any,
    django_assert_num_queries: Callable[[int], Any],
) -> None:
    route(add_usernames=frozenset({rider.username}))
    trip_id = uuid.uuid4()
    trips_service.answer = (200, {"result": "trip:from-the-service"})
    routing_rules()  # warm, as a worker is after its first task

    with django_assert_num_queries(0):
        with acting_as(rider.pk):
            assert trips_api.booking_credit_reference(trip_id=trip_id) == "trip:from-the-service"
        with acting_as(other_rider.pk):
            assert trips_api.booking_credit_reference(trip_id=trip_id) == f"trip:{trip_id}"
        # Nobody declared: decided as anonymous, outside the named cohort.
        assert trips_api.booking_credit_reference(trip_id=trip_id) == f"trip:{trip_id}"

    assert accounts_reached(trips_service) == [rider.pk]


def test_with_the_service_down_a_read_falls_back_here_and_a_write_is_a_503(
    trips_service: FlakyServer,
    route: Callable[..., Any],
    rider: Any,
    client_for: Callable[[Any], Any],
) -> None:
    route(add_usernames=frozenset({rider.username}))
    trips_service.fail_first = 100  # a gateway's 503: the service is not there
    fallbacks, refused = routed_calls("fallback"), routed_calls("unavailable")

    answer = client_for(rider).get(PROBE)

    assert (answer.status_code, answer.json()) == (200, {"trips": []})  # this database's
    assert len(trips_service.calls) == 3  # a read: sent again twice
    assert routed_calls("fallback") == fallbacks + 1

    answer = client_for(rider).post(PROBE, {"trip_id": str(uuid.uuid4())}, format="json")

    assert answer.status_code == 503, answer.content
    assert int(answer["Retry-After"]) >= 1
    assert answer.json()["code"] == "module_unavailable"
    assert len(trips_service.calls) == 4  # a write: sent once, never run here
    assert routed_calls("unavailable") == refused + 1

    with acting_as(rider.pk), pytest.raises(ModuleUnavailable):
        trips_api.trip_start(trip_id=uuid.uuid4())


def test_widening_and_narrowing_move_exactly_the_accounts_across_the_line(
    trips_service: FlakyServer, route: Callable[..., Any]
) -> None:
    accounts = [uuid.uuid4() for _ in range(120)]
    trips_service.answer = (200, {"result": "trip:from-the-service"})

    def reached_at(percent: Decimal) -> set[uuid.UUID | None]:
        route(percent=percent)
        trips_service.calls.clear()
        for account in accounts:
            with acting_as(account):
                trips_api.booking_credit_reference(trip_id=account)
        return set(accounts_reached(trips_service))

    def below(percent: Decimal) -> set[uuid.UUID | None]:
        line = cohort_line(percent)
        return {a for a in accounts if cohort_bucket(route_flag_name("trips"), a) < line}

    at_20 = reached_at(Decimal(20))
    at_50 = reached_at(Decimal(50))
    back_at_20 = reached_at(Decimal(20))

    assert at_20 == below(Decimal(20))
    assert at_50 == below(Decimal(50))
    assert at_20 < at_50  # widening kept everyone who was in
    assert back_at_20 == at_20  # narrowing moved back only those above the line
    # The same decision cohort routing takes for each account.
    assert at_20 == {a for a in accounts if route_for_account("trips", a).side is Side.SERVICE}


def test_a_call_addressed_to_this_deployable_is_served_here_whatever_the_route(
    trips_service: FlakyServer, route: Callable[..., Any], rider: Any, client: Any
) -> None:
    route(everyone=True)
    trip_id = uuid.uuid4()
    token = internal_token_issue(audience="trips", account_id=rider.pk)

    answer = client.post(
        "/internal/v1/trips/booking_credit_reference",
        {"arguments": {"trip_id": str(trip_id)}},
        content_type="application/json",
        HTTP_X_FLEET_INTERNAL_TOKEN=token,
    )

    assert answer.json() == {"result": f"trip:{trip_id}"}
    assert trips_service.calls == []


def test_only_a_monolith_with_a_service_url_routes_a_module() -> None:
    with override_settings(FLEET_SERVICE_URLS={}):
        assert routed_apis_install() == []
    with override_settings(
        FLEET_SERVICE_URLS={"trips": "http://127.0.0.1:9"}, COHORT_DEPLOYABLE_SIDE="service"
    ):
        assert routed_apis_install() == []
    with override_settings(FLEET_SERVICE_URLS={"trips": "http://127.0.0.1:9", "nowhere": "x"}):
        try:
            assert routed_apis_install() == ["trips"]
            assert routed_apis_install() == ["trips"]  # twice: wrapped once
            assert trips_api.trip_get.__wrapped__.__module__ == "modules.trips.api"  # type: ignore[attr-defined]
            assert not hasattr(trips_api.trip_get.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]
        finally:
            routed_api_uninstall("trips")
    assert not hasattr(trips_api.trip_get, "__wrapped__")
