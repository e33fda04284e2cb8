"""The edge: one decision per request, after DRF authentication, with no query of its own;
X-Served-By and traffic metrics per side on every module API response."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from monolith.cohorts.routing import current_route, route_for_account
from monolith.cohorts.rules import Side
from monolith.cohorts.snapshot import routing_rules

pytestmark = pytest.mark.django_db

ClientFor = Callable[[Any], APIClient]


def decisions(side: str, reason: str) -> float:
    labels = {"module": "trips", "side": side, "reason": reason}
    return REGISTRY.get_sample_value("fleet_routing_decisions_total", labels) or 0.0


def served(module: str, side: str) -> float:
    labels = {"module": module, "side": side}
    return REGISTRY.get_sample_value("fleet_routed_request_duration_seconds_count", labels) or 0.0


@pytest.mark.usefixtures("routed")
def test_a_token_client_is_routed_by_its_account_once_per_request(
    route: Callable[..., Any], rider: Any, other_rider: Any, client_for: ClientFor
) -> None:
    route(add_usernames=frozenset({rider.username}), percent=Decimal(0))
    routing_rules()
    inside, outside = decisions("service", "user"), decisions("monolith", "outside")

    assert client_for(rider).get("/api/v1/trips/").status_code == 200
    assert client_for(other_rider).get("/api/v1/trips/").status_code == 200
    assert client_for(other_rider).get("/api/v1/trips/").status_code == 200

    # Middleware alone would have seen AnonymousUser for these token calls.
    assert decisions("service", "user") == inside + 1
    assert decisions("monolith", "outside") == outside + 2


@pytest.mark.usefixtures("routed")
def test_routing_adds_no_query_to_a_request_whose_user_is_not_in_the_cohort(
    route: Callable[..., Any],
    rider: Any,
    other_rider: Any,
    client_for: ClientFor,
    assert_num_queries_all_databases: Callable[[int], Any],
) -> None:
    client = client_for(rider)
    client.get("/api/v1/trips/")  # the first call provisions the rider's profile
    with override_settings(COHORT_ROUTED_MODULES=[]), CaptureQueriesContext(connection) as plain:
        assert client.get("/api/v1/trips/").status_code == 200
    route(add_usernames=frozenset({other_rider.username}), percent=Decimal("0.5"))
    routing_rules()  # warm, as any process is after its first request
    assert route_for_account("trips", rider.pk).side is Side.MONOLITH
    with assert_num_queries_all_databases(len(plain.captured_queries)):
        response = client.get("/api/v1/trips/")
    assert response.status_code == 200
    assert response["X-Served-By"] == "monolith"


@pytest.mark.usefixtures("routed")
def test_a_session_user_is_routed_by_account_and_keeps_its_csrf_check(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    staff = make_user("staff-ola", is_staff=True)
    route(add_usernames=frozenset({"staff-ola"}))
    routing_rules()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    before = decisions("service", "user")
    assert client.get("/api/v1/trips/").status_code == 200
    assert decisions("service", "user") == before + 1
    # Routing read the session without handing it to DRF: the view still checks CSRF.
    response = client.post("/api/v1/trips/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.usefixtures("routed")
def test_a_bad_token_is_answered_by_the_view_as_usual(route: Callable[..., Any]) -> None:
    route(percent=Decimal(50))
    before = decisions("monolith", "anonymous")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/v1/trips/")
    assert response.status_code == 401
    assert decisions("monolith", "anonymous") == before + 1


@pytest.mark.usefixtures("routed")
def test_code_inside_the_request_reads_the_same_decision(
    route: Callable[..., Any], rider: Any, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    route(add_usernames=frozenset({rider.username}))
    seen: list[Any] = []
    from modules.trips import apis

    original = apis.TripListRequestApi.get

    def get(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(current_route("trips"))
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(apis.TripListRequestApi, "get", get)
    before = decisions("service", "user")
    assert client_for(rider).get("/api/v1/trips/").status_code == 200
    assert [decision.side.value for decision in seen] == ["service"]
    assert decisions("service", "user") == before + 1  # taken once, read twice


def test_every_module_api_answer_says_who_served_it_and_is_counted_by_side(
    rider: Any, client_for: ClientFor
) -> None:
    client = client_for(rider)
    before_vehicles, before_trips = served("vehicles", "monolith"), served("trips", "monolith")
    refused = client.get("/api/v1/vehicles/")  # fleet staff only
    assert (refused.status_code, refused["X-Served-By"]) == (403, "monolith")
    missing = client.get("/api/v1/trips/00000000-0000-0000-0000-000000000000/")
    assert (missing.status_code, missing["X-Served-By"]) == (404, "monolith")
    assert served("vehicles", "monolith") == before_vehicles + 1
    assert served("trips", "monolith") == before_trips + 1
    assert "X-Served-By" not in client.get("/healthz").headers
    with override_settings(COHORT_DEPLOYABLE_SIDE="service"):
        assert client.get("/api/v1/vehicles/")["X-Served-By"] == "service"
