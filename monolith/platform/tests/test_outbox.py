"""The outbox in one process: publish, relay, sweep, deliver once, park, retry from the admin."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from modules.billing.models import Inbox, Invoice, ParkedDelivery
from modules.trips.events import TripCompleted
from modules.trips.models import Outbox as TripsOutbox
from monolith.platform.access import Role
from monolith.platform.outbox import machinery
from monolith.platform.tests.outbox_support import tariff_ensure, trip_complete_for

pytestmark = pytest.mark.django_db


class Sent:
    """A ``send`` that records deliveries instead of queueing tasks."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []

    def __call__(self, **delivery: Any) -> None:
        self.deliveries.append(delivery)


def test_publish_writes_the_event_into_the_publishers_outbox(rider: Any) -> None:
    trip_id = trip_complete_for(rider)

    message = TripsOutbox.objects.get(name=TripCompleted.name)
    assert message.aggregate_id == str(trip_id)
    assert message.version == 1
    assert message.payload["trip_id"] == str(trip_id)
    assert message.relayed_at is None
    (event,) = machinery.outbox_published("trips", TripCompleted)
    assert event.trip_id == trip_id


def test_relay_sends_once_per_subscriber_and_marks_the_rows(rider: Any) -> None:
    trip_complete_for(rider)
    sent = Sent()

    assert machinery.outbox_relay_run("trips", send=sent) == 1
    assert [(d["subscriber"], d["name"]) for d in sent.deliveries] == [
        ("billing", "trips.TripCompleted")
    ]
    assert TripsOutbox.objects.get().relayed_at is not None
    # Relayed rows are not relayed again.
    assert machinery.outbox_relay_run("trips", send=sent) == 0
    assert len(sent.deliveries) == 1


def test_sweep_relays_only_what_waited_long_enough(rider: Any, settings: Any) -> None:
    trip_complete_for(rider)
    settings.FLEET_OUTBOX_SWEEP_AFTER_SECONDS = 60
    sent = Sent()
    assert machinery.outbox_sweep_run(send=sent) == 0

    TripsOutbox.objects.update(occurred_at=timezone.now() - timedelta(minutes=2))
    assert machinery.outbox_sweep_run(send=sent) >= 1
    assert [d["subscriber"] for d in sent.deliveries] == ["billing"]
    assert TripsOutbox.objects.filter(relayed_at__isnull=True).count() == 0


def test_deliver_events_invoices_the_completed_trip_once(
    rider: Any, deliver_events: Callable[..., int]
) -> None:
    tariff_ensure()
    trip_id = trip_complete_for(rider)
    assert not Invoice.objects.filter(trip_id=trip_id).exists()

    assert deliver_events() >= 1
    assert Invoice.objects.filter(trip_id=trip_id).count() == 1
    assert Inbox.objects.filter(subscriber="billing").count() == 1
    # Nothing left to deliver.
    assert deliver_events() == 0


def test_a_redelivered_event_has_no_second_effect(rider: Any) -> None:
    tariff_ensure()
    trip_complete_for(rider)
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    (delivery,) = sent.deliveries

    assert machinery.event_deliver(**delivery) is True
    assert machinery.event_deliver(**delivery) is False
    assert Invoice.objects.count() == 1


def test_a_failing_handler_leaves_no_inbox_row(rider: Any) -> None:
    trip_complete_for(rider)  # no tariff in force: billing's handler refuses
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    with pytest.raises(Exception, match="tariff"):
        machinery.event_deliver(**sent.deliveries[0])
    assert not Inbox.objects.exists()
    assert not Invoice.objects.exists()


def test_backoff_doubles_and_is_capped(settings: Any) -> None:
    settings.FLEET_TASK_MAX_DELAY_SECONDS = 10
    assert [machinery.delivery_backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert machinery.delivery_max_attempts() == 5


def test_parking_keeps_one_row_per_delivery_with_its_error(rider: Any) -> None:
    trip_complete_for(rider)
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    delivery = sent.deliveries[0]

    machinery.delivery_park(**delivery, attempts=5, error=RuntimeError("first"))
    machinery.delivery_park(**delivery, attempts=5, error=RuntimeError("again"))

    parked = ParkedDelivery.objects.get()
    assert (parked.event_name, parked.publisher, parked.subscriber) == (
        "trips.TripCompleted",
        "trips",
        "billing",
    )
    assert parked.last_error == "RuntimeError: again"
    assert parked.attempts == 5


def test_admin_lists_parked_deliveries_and_retries_them(
    rider: Any, make_user: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    trip_complete_for(rider)
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    parked = machinery.delivery_park(**sent.deliveries[0], attempts=5, error=ValueError("boom"))
    boss = make_user("boss", Role.FLEET_STAFF, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    url = reverse("admin:billing_parkeddelivery_changelist")

    page = client.get(url)
    assert page.status_code == 200
    assert "ValueError: boom" in page.content.decode()
    assert "Retry selected deliveries" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            url, {"action": "deliveries_retry", "_selected_action": [parked.pk]}, follow=True
        )
    assert response.status_code == 200
    assert "1 deliveries sent again." in response.content.decode()
    # The delivery task is queued once the retry's transaction commits.
    assert [getattr(c, "func", None) for c in callbacks] == [machinery.delivery_send]
    parked.refresh_from_db()
    assert parked.retried_at is not None
    # Read-only: staff cannot edit or delete a parked delivery.
    change = reverse("admin:billing_parkeddelivery_change", args=[parked.pk])
    assert client.post(change, {"last_error": "x"}).status_code == 403


def test_retrying_parked_deliveries_needs_the_retry_permission(
    rider: Any, make_user: Callable[..., Any]
) -> None:
    from django.contrib.auth.models import Permission

    trip_complete_for(rider)
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    parked = machinery.delivery_park(**sent.deliveries[0], attempts=5, error=ValueError("boom"))
    viewer = make_user("viewer-vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_parkeddelivery"))
    client = Client()
    client.force_login(viewer)
    url = reverse("admin:billing_parkeddelivery_changelist")

    assert "Retry selected deliveries" not in client.get(url).content.decode()
    client.post(url, {"action": "deliveries_retry", "_selected_action": [parked.pk]})
    parked.refresh_from_db()
    assert parked.retried_at is None
