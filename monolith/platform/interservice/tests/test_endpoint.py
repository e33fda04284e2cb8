"""The internal endpoint in the monolith: signed calls to a module's api.py, refusals otherwise."""

import json
import logging
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from modules.users import api as users_api
from monolith.platform.access import Role
from monolith.platform.interservice.tokens import internal_token_issue

pytestmark = pytest.mark.django_db


def call(
    module: str,
    function: str,
    arguments: dict[str, Any],
    *,
    token: str | None = "auto",  # noqa: S107 - "sign one"
    **extra: Any,
) -> Any:
    headers = dict(extra)
    if token == "auto":
        token = internal_token_issue(audience=module, issuer="trips-service")
    if token is not None:
        headers["HTTP_X_FLEET_INTERNAL_TOKEN"] = token
    # enforce_csrf_checks: the endpoint needs no CSRF token, the signature is the credential.
    return Client(enforce_csrf_checks=True).post(
        f"/internal/v1/{module}/{function}",
        json.dumps({"arguments": arguments}),
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def funded_rider(make_user: Any) -> Any:
    rider = make_user("rider-ida", Role.RIDER)
    users_api.credit_top_up(rider_id=rider.id, amount=Decimal("50.00"), reference="seed")
    return rider


def test_a_signed_call_runs_the_api_function_and_answers_its_result(funded_rider: Any) -> None:
    response = call(
        "users",
        "credit_hold",
        {"rider_id": str(funded_rider.id), "amount": "20.00", "reference": "trip:1"},
    )

    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert (result["status"], result["amount"]) == ("held", {"amount": "20.00", "currency": "EUR"})
    assert users_api.wallet_get(rider_id=funded_rider.id).held.amount == Decimal("20.00")


def test_a_module_error_answers_its_status_and_shape(funded_rider: Any) -> None:
    response = call(
        "users",
        "credit_hold",
        {"rider_id": str(funded_rider.id), "amount": "80.00", "reference": "trip:2"},
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["name"], error["code"], error["status"]) == (
        "InsufficientCredit",
        "insufficient_credit",
        409,
    )


def test_unsigned_expired_tampered_and_foreign_calls_are_refused_and_logged(
    funded_rider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    arguments = {"rider_id": str(funded_rider.id)}
    good = internal_token_issue(audience="users")
    expired = internal_token_issue(audience="users", now=time.time() - 120)
    cases = {
        "token_missing": (None, 401),
        "token_expired": (expired, 401),
        "token_invalid": (good[:-3] + "abc", 401),
        "token_wrong_audience": (internal_token_issue(audience="vehicles"), 403),
    }
    with caplog.at_level(logging.WARNING, logger="fleet.interservice"):
        for code, (token, status) in cases.items():
            response = call("users", "rider_get", arguments, token=token)
            assert response.status_code == status, code
            assert response.json()["code"] == code
            assert response.json()["detail"]
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.reason for r in refusals] == list(cases)  # type: ignore[attr-defined]


def test_only_public_functions_of_served_modules_are_reachable() -> None:
    for module, function in [
        ("users", "_rider_summary"),
        ("users", "services"),
        ("users", "RiderSummary"),
        ("users", "nothing_here"),
        ("accounts", "anything"),
    ]:
        response = call(module, function, {})
        assert response.status_code == 404, (module, function)
    assert Client().get("/internal/v1/users/rider_get").status_code == 405


def test_arguments_that_do_not_fit_are_a_400_naming_the_argument() -> None:
    response = call("users", "rider_get", {"rider_id": "nope"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "rider_id"


def test_a_rider_that_is_not_there_is_the_module_s_not_found() -> None:
    response = call("users", "rider_get", {"rider_id": str(uuid.uuid4())})

    assert response.status_code == 404
    assert response.json()["error"]["name"] == "RiderNotFound"


def test_the_internal_endpoint_is_not_in_the_public_schema(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()

    assert not [path for path in schema["paths"] if "internal" in path]
