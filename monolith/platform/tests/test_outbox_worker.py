"""Integration: events cross a real broker into a real worker, once, and park when they fail.

No eager mode: the trip is completed in this process, the relay queued after its commit, and a
Celery worker process (its own queue) relays and delivers through the broker.
"""

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from modules.billing.models import Inbox, Invoice, ParkedDelivery
from modules.trips.models import Outbox as TripsOutbox
from monolith.platform.access import Role
from monolith.platform.tasks import deliver, outbox_relay
from monolith.platform.tests.outbox_support import (
    tariff_ensure,
    trip_complete_for,
    worker_wait,
)
from monolith.platform.worker_process import WorkerHandle

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_completed_trip_is_invoiced_once_by_the_worker(rider: Any, worker: WorkerHandle) -> None:
    tariff_ensure()
    trip_id = trip_complete_for(rider)

    worker_wait(lambda: Invoice.objects.filter(trip_id=trip_id).exists(), "the invoice", worker)
    worker_wait(
        lambda: TripsOutbox.objects.filter(relayed_at__isnull=False).exists(), "relay", worker
    )
    message = TripsOutbox.objects.get()

    # Redelivery, twice over: the same delivery task again, and the row relayed again.
    deliver.delay("trips", str(message.id), "billing", message.name, message.payload)
    TripsOutbox.objects.update(relayed_at=None)
    outbox_relay.delay("trips")
    worker_wait(
        lambda: TripsOutbox.objects.filter(relayed_at__isnull=False).exists(), "relay", worker
    )
    time.sleep(2)  # room for the redelivered tasks to run (and, if broken, to invoice again)

    assert Invoice.objects.filter(trip_id=trip_id).count() == 1
    assert Inbox.objects.filter(event_id=message.id, subscriber="billing").count() == 1
    assert worker.log().count("platform.deliver") >= 3
    assert os.getpid() != worker.pid


def test_a_failing_delivery_is_parked_and_the_admin_retry_delivers_it(
    rider: Any, make_user: Callable[..., Any], worker: WorkerHandle
) -> None:
    # No tariff in force: billing's handler raises NoTariffInForce on every attempt.
    trip_id = trip_complete_for(rider)
    worker_wait(ParkedDelivery.objects.exists, "parking", worker)
    parked = ParkedDelivery.objects.get()
    assert parked.attempts == 5
    assert "NoTariffInForce" in parked.last_error
    assert not Invoice.objects.exists()

    tariff_ensure()  # the fault is fixed
    boss = make_user("boss", Role.FLEET_STAFF, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    response = client.post(
        reverse("admin:billing_parkeddelivery_changelist"),
        {"action": "deliveries_retry", "_selected_action": [parked.pk]},
    )
    assert response.status_code == 302

    worker_wait(lambda: Invoice.objects.filter(trip_id=trip_id).exists(), "the retry", worker)
    parked.refresh_from_db()
    assert parked.retried_at is not None
    assert Inbox.objects.filter(subscriber="billing", event_id=parked.event_id).count() == 1
