"""The HTTP client against a real local server: retries for reads only, the breaker, headers.

The server is a plain ``http.server`` on loopback that fails its first N calls, so attempts are
counted where they arrive, not where they are sent.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings

from modules.users import api as users_api
from monolith.platform.interservice.acting import acting_as
from monolith.platform.interservice.client import (
    ModuleUnavailable,
    RemoteCallFailed,
    deployables_forget,
    remote_call,
)
from monolith.platform.interservice.facade import remote_stub
from monolith.platform.interservice.tokens import internal_token_verify
from monolith.platform.money import Money
from monolith.platform.observability import request_id_var


class FlakyServer:
    """Answers ``answer`` after failing the first ``fail_first`` calls with ``failure``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = 0
        self.failure = 503
        self.answer: tuple[int, Any] = (200, {"result": None})
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.calls.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                if len(server.calls) <= server.fail_first:
                    self.send_response(server.failure)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, payload = server.answer
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FlakyServer":
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    deployables_forget()
    with (
        FlakyServer() as flaky,
        override_settings(
            FLEET_MODULE_URLS={"users": flaky.url},
            FLEET_INTERSERVICE_READ_RETRIES=2,
            FLEET_INTERSERVICE_RETRY_BACKOFF_MS=1,
            FLEET_INTERSERVICE_BREAKER_FAILURES=5,
            FLEET_INTERSERVICE_BREAKER_RESET_SECONDS=30,
            FLEET_INTERSERVICE_READ_TIMEOUT_MS=2000,
        ),
    ):
        yield flaky
    deployables_forget()


def test_a_read_is_retried_after_failures_and_succeeds(server: FlakyServer) -> None:
    server.fail_first = 2

    assert remote_call("users", "rider_get", {}, read=True) is None

    assert len(server.calls) == 3


def test_a_read_gives_up_after_its_retries_with_a_503_to_retry_later(server: FlakyServer) -> None:
    server.fail_first = 10

    with pytest.raises(ModuleUnavailable) as unavailable:
        remote_call("users", "rider_get", {}, read=True)

    assert len(server.calls) == 3
    assert unavailable.value.status == 503
    assert unavailable.value.retry_after == 30
    assert "no answer to rider_get after 3 attempts (HTTP 503)" in unavailable.value.message


def test_a_write_is_sent_once(server: FlakyServer) -> None:
    server.fail_first = 1

    with pytest.raises(ModuleUnavailable):
        remote_call("users", "credit_hold", {"reference": "r"}, read=False)

    assert len(server.calls) == 1


def test_a_refused_connection_is_unavailable_too() -> None:
    deployables_forget()
    with FlakyServer() as gone:
        url = gone.url
    with (
        override_settings(FLEET_INTERSERVICE_RETRY_BACKOFF_MS=1),
        pytest.raises(ModuleUnavailable, match="NewConnectionError"),
    ):
        remote_call("users", "rider_get", {}, read=True, base_url=url)
    deployables_forget()


def test_the_breaker_opens_after_repeated_failures_and_then_fails_fast(
    server: FlakyServer,
) -> None:
    server.fail_first = 100
    for _ in range(5):
        with pytest.raises(ModuleUnavailable):
            remote_call("users", "credit_hold", {}, read=False)
    assert len(server.calls) == 5

    with pytest.raises(ModuleUnavailable) as fast:
        remote_call("users", "credit_hold", {}, read=False)

    assert len(server.calls) == 5  # nothing sent
    assert fast.value.circuit_open
    assert 29 <= fast.value.retry_after <= 30
    assert "circuit breaker is open" in fast.value.message


def test_a_module_error_comes_back_as_its_class_and_is_not_a_failure(server: FlakyServer) -> None:
    server.answer = (
        409,
        {
            "error": {
                "name": "InsufficientCredit",
                "code": "insufficient_credit",
                "message": "Only 1.00 EUR available.",
                "field": "amount",
                "status": 409,
                "retry_after": None,
            }
        },
    )
    for _ in range(6):
        with pytest.raises(users_api.InsufficientCredit) as refused:
            remote_call("users", "credit_hold", {}, read=True)
    assert (refused.value.message, refused.value.field) == ("Only 1.00 EUR available.", "amount")
    assert len(server.calls) == 6  # no retry, and the breaker stays closed


def test_a_server_error_is_a_failed_call_not_retried(server: FlakyServer) -> None:
    server.answer = (500, {"detail": "boom"})

    with pytest.raises(RemoteCallFailed, match="answered 500: boom"):
        remote_call("users", "rider_get", {}, read=True)

    assert len(server.calls) == 1


def test_each_call_carries_a_token_for_the_module_the_acting_account_and_request_id(
    server: FlakyServer,
) -> None:
    account = uuid.uuid4()
    request_id_var.set("req-42")
    try:
        with acting_as(account):
            remote_call("users", "rider_get", {"rider_id": str(account)}, read=True)
    finally:
        request_id_var.set(None)

    (call,) = server.calls
    assert call["path"] == "/internal/v1/users/rider_get"
    assert call["body"] == {"arguments": {"rider_id": str(account)}}
    assert call["headers"]["X-Request-ID"] == "req-42"
    claims = internal_token_verify(call["headers"]["X-Fleet-Internal-Token"], audience="users")
    assert (claims.account_id, claims.request_id, claims.issuer) == (account, "req-42", "monolith")


def test_a_remote_stub_rebuilds_the_same_dataclasses(server: FlakyServer) -> None:
    hold_id, rider_id = uuid.uuid4(), uuid.uuid4()
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    server.answer = (
        200,
        {
            "result": {
                "id": str(hold_id),
                "rider_id": str(rider_id),
                "amount": {"amount": "20.00", "currency": "EUR"},
                "status": "held",
                "captured": None,
                "reference": "trip:1",
                "created_at": created.isoformat(),
            }
        },
    )
    stub = remote_stub("users", "credit_hold_find", users_api.credit_hold_find)

    found = stub(rider_id=rider_id, reference="trip:1")

    assert found == users_api.CreditHoldSummary(
        id=hold_id,
        rider_id=rider_id,
        amount=Money(Decimal("20.00"), "EUR"),
        status="held",
        captured=None,
        reference="trip:1",
        created_at=created,
    )
    assert server.calls[0]["body"] == {
        "arguments": {"rider_id": str(rider_id), "reference": "trip:1"}
    }
    with pytest.raises(TypeError):
        stub(rider_id=rider_id)  # as in-process: a wrong call fails before anything is sent
    assert len(server.calls) == 1
