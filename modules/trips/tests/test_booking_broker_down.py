"""Booking with the broker unreachable: the hook that queues the booking's next run after the
commit fails fast and quietly; the booking stays stored, and the periodic resume confirms it.

The broker is a real address nothing listens on, published to with the product's own Celery
settings (its publish retry policy and socket timeouts), as the outbox's fault tests do.
"""

import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from modules.trips import booking
from modules.trips.models import BookingSaga, Trip
from modules.trips.tests.conftest import ROUTE
from modules.vehicles import api as vehicles_api
from monolith.celery import app
from monolith.platform.errors import ServiceUnavailable
from monolith.platform.tests.broker_support import publishing_to

# The hook runs only when the trips transaction really commits.
pytestmark = pytest.mark.django_db(transaction=True)

# Nothing listens on port 1: every connection is refused at once.
UNREACHABLE = ("127.0.0.1", 1)


@pytest.fixture(autouse=True)
def broker_unreachable() -> Iterator[None]:
    """Everything this process publishes, fixtures' events included, goes to ``UNREACHABLE``."""
    host, port = UNREACHABLE
    with publishing_to(f"redis://{host}:{port}/0", queue=f"test-{uuid.uuid4().hex[:12]}"):
        yield


@pytest.fixture
def broker_attempts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The addresses this process connects sockets to from now on (connections still made)."""
    attempts: list[object] = []
    connect = socket.socket.connect

    def counted(sock: socket.socket, address: Any) -> None:
        attempts.append(address)
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counted)
    return attempts


def test_a_booking_made_while_the_broker_is_unreachable_is_stored_and_resumed_later(
    client_for: Callable[[Any], APIClient],
    rider: Any,
    vehicle: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    broker_attempts: list[object],
) -> None:
    # The interrupted booking is due again at once, so the resume below need not wait.
    settings.FLEET_TASK_MAX_DELAY_SECONDS = 0
    reserve = vehicles_api.vehicle_reserve_for_trip

    def vehicles_down(**kwargs: Any) -> Any:
        raise ServiceUnavailable("The vehicles service did not answer.")

    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", vehicles_down)

    with caplog.at_level(logging.WARNING, logger=booking.__name__):
        response = client_for(rider).post(
            "/api/v1/trips/", {field: str(value) for field, value in ROUTE.items()}
        )

    assert response.status_code == 202, response.content
    saga = BookingSaga.objects.get()
    # Committed: the test's connection is outside any transaction and reads it back.
    assert (saga.state, saga.step, saga.lease_token) == ("running", "reserve_vehicle", None)
    assert response.json()["id"] == str(saga.id)
    # The hook ran after the commit, tried the broker and gave up without raising ...
    not_queued = [r for r in caplog.records if "next run not queued" in r.getMessage()]
    assert [getattr(r, "booking", None) for r in not_queued] == [str(saga.id)]
    # ... after one try and the one immediate reconnect the publish policy keeps (Celery's
    # default policy makes four, 0.6 s apart in all): the request never waits on the broker.
    assert broker_attempts.count(UNREACHABLE) in (1, 2), broker_attempts
    assert app.conf.task_publish_retry_policy["interval_start"] == 0

    # The vehicles module is back (the broker still is not); beat's resume needs no message.
    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", reserve)
    assert booking.booking_saga_resume_stale() == 1

    saga.refresh_from_db()
    assert (saga.state, saga.vehicle_id, saga.attempts) == ("confirmed", vehicle.id, 2)
    assert Trip.objects.get(id=saga.trip_id).status == "assigned"
