"""The outbox in one process: publish, relay, sweep, deliver once, park, retry from the admin."""

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from modules.billing.models import Inbox, Invoice, ParkedDelivery
from modules.trips.events import TripCompleted
from modules.trips.models import Outbox as TripsOutbox
from monolith.platform.access import Role
from monolith.platform.interservice.acting import acting_account
from monolith.platform.outbox import machinery
from monolith.platform.registry import module_atomic
from monolith.platform.tests.outbox_support import Sent, tariff_ensure, trip_complete_for

pytestmark = pytest.mark.django_db


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
    assert machinery.outbox_sweep_run(send=sent) == {}
    assert sent.deliveries == []

    TripsOutbox.objects.update(occurred_at=timezone.now() - timedelta(minutes=2))
    assert machinery.outbox_sweep_run(send=sent)["trips"] is False  # drained: nothing more
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
    completed = TripsOutbox.objects.get(name=TripCompleted.name)
    assert Inbox.objects.filter(subscriber="billing", event_id=completed.id).count() == 1
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
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_parkeddelivery", content_type__app_label="billing")
    )
    client = Client()
    client.force_login(viewer)
    url = reverse("admin:billing_parkeddelivery_changelist")

    assert "Retry selected deliveries" not in client.get(url).content.decode()
    client.post(url, {"action": "deliveries_retry", "_selected_action": [parked.pk]})
    parked.refresh_from_db()
    assert parked.retried_at is None


@pytest.fixture
def relays_queued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[str]:
    """The relay tasks queued after commits (recorded here instead of sent)."""
    from monolith.platform.tasks import outbox_relay

    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = True
    queued: list[str] = []
    monkeypatch.setattr(outbox_relay, "delay", queued.append)
    return queued


def _status_changed() -> None:
    from modules.vehicles.events import VehicleStatusChanged
    from monolith.platform.events import publish

    with module_atomic("vehicles"):
        publish(
            VehicleStatusChanged(
                vehicle_id=uuid.uuid4(),
                from_status="available",
                to_status="maintenance",
                reason="test",
                changed_at=timezone.now(),
            )
        )


@pytest.mark.django_db(transaction=True)
def test_a_commit_queues_a_relay_only_when_none_has_to_take_its_row(
    relays_queued: list[str],
) -> None:
    from modules.vehicles.models import Outbox as VehiclesOutbox

    _status_changed()
    assert relays_queued == ["vehicles"]
    # The first row still waits: the relay queued for it has not run, and will take these.
    _status_changed()
    _status_changed()
    assert relays_queued == ["vehicles"]

    # Once they are relayed, the next commit needs a relay of its own.
    assert machinery.outbox_relay_drain("vehicles", send=Sent()) == (3, False)
    _status_changed()
    assert relays_queued == ["vehicles", "vehicles"]
    assert VehiclesOutbox.objects.filter(relayed_at__isnull=True).count() == 1


def _relay_holding_the_lock(holding: threading.Event, release: threading.Event) -> None:
    """A relay in the middle of its transaction, in a connection of its own."""
    try:
        with module_atomic("vehicles"):
            machinery._relay_lock(machinery.outbox_table("vehicles"), "default")
            holding.set()
            release.wait(timeout=10)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_commit_during_a_relay_is_left_to_that_relay(relays_queued: list[str]) -> None:
    """The running relay looks again once it lets go of the lock, and takes the row."""
    holding, release = threading.Event(), threading.Event()
    relay = threading.Thread(target=_relay_holding_the_lock, args=(holding, release))
    relay.start()
    try:
        assert holding.wait(timeout=10)
        _status_changed()
    finally:
        release.set()
        relay.join(timeout=10)
    assert relays_queued == []

    # What a relay does after its last batch: look again, and relay what it finds.
    sent = Sent()
    assert machinery.outbox_relay_drain("vehicles", send=sent) == (1, False)
    assert machinery.outbox_relay_drain("vehicles", send=sent) == (0, False)


@pytest.mark.django_db(transaction=True)
def test_a_relay_drains_the_backlog_and_hands_over_when_its_budget_ends() -> None:
    for _ in range(5):
        _status_changed()
    sent = Sent()
    assert machinery.outbox_relay_drain("vehicles", send=sent, limit=2, batches=2) == (4, True)
    assert machinery.outbox_relay_drain("vehicles", send=sent, limit=2, batches=2) == (1, False)


@pytest.mark.django_db(transaction=True)
def test_a_row_waiting_longer_than_the_sweep_age_is_not_counted_on(
    relays_queued: list[str], settings: Any
) -> None:
    """Its relay was probably lost (the broker was down): the next commit queues one."""
    from modules.vehicles.models import Outbox as VehiclesOutbox

    settings.FLEET_OUTBOX_SWEEP_AFTER_SECONDS = 5
    _status_changed()
    VehiclesOutbox.objects.update(occurred_at=timezone.now() - timedelta(minutes=1))
    _status_changed()
    assert relays_queued == ["vehicles", "vehicles"]


@pytest.mark.django_db(transaction=True)
def test_a_relay_that_cannot_be_queued_leaves_the_commit_alone(
    monkeypatch: pytest.MonkeyPatch, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from kombu.exceptions import OperationalError

    from modules.vehicles.models import Outbox as VehiclesOutbox
    from monolith.platform.tasks import outbox_relay

    def broker_down(*args: Any) -> None:
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = True
    monkeypatch.setattr(outbox_relay, "delay", broker_down)

    _status_changed()  # does not raise: the transaction has committed

    assert VehiclesOutbox.objects.filter(relayed_at__isnull=True).count() == 1
    assert "relay not queued after commit" in caplog.text
    assert "the sweep will relay it" in caplog.text


def test_events_list_shows_every_event_type_with_its_publisher_and_subscribers() -> None:
    from io import StringIO

    from django.core.management import call_command

    from monolith.platform.boundaries.module_map import module_cards

    out = StringIO()
    call_command("events", "list", stdout=out)
    text = out.getvalue()

    assert "trips.TripCompleted v1\n" in text
    block = text.split("trips.TripCompleted v1\n", 1)[1].split("\n\n", 1)[0]
    assert "  publisher:   trips" in block
    assert "billing" in block.split("subscribers:", 1)[1].splitlines()[0]
    assert "  aggregate:   trip_id" in block
    assert "trip_id: UUID" in block
    assert "distance_km: Decimal" in block
    # The same registry as `manage.py modules`: every event type a module publishes, once.
    published = [event.name for card in module_cards(imports=()) for event in card.publishes]
    headings = [line.split(" v")[0] for line in text.splitlines() if line and line[0] != " "]
    assert headings[:-1] == sorted(published)
    assert headings[-1].startswith(f"{len(published)} event types, ")


def test_events_parked_lists_parked_deliveries_in_every_subscriber(rider: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    trip_complete_for(rider)
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    (delivery,) = [d for d in sent.deliveries if d["subscriber"] == "billing"]
    machinery.delivery_park(**delivery, attempts=5, error=ValueError("no tariff\nsecond line"))

    out = StringIO()
    call_command("events", "parked", stdout=out)
    lines = out.getvalue().splitlines()

    assert lines[0].startswith(
        f"billing: trips.TripCompleted {delivery['event_id']} from trips, 5 attempts, parked "
    )
    assert lines[1] == "    ValueError: no tariff"
    assert lines[-1].startswith("1 parked deliveries, 1 not retried")


def test_a_handler_acts_for_the_account_its_event_concerns(
    rider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So its calls into a module being extracted take that rider's side of cohort routing."""
    trip_complete_for(rider)
    sent = Sent()
    machinery.outbox_relay_run("trips", send=sent)
    (delivery,) = sent.deliveries
    seen: list[Any] = []
    monkeypatch.setattr(
        machinery.events, "handler_of", lambda *_: lambda event: seen.append(acting_account())
    )

    assert machinery.event_deliver(**delivery) is True

    assert seen == [rider.id]
    assert acting_account() is None  # not left behind for the worker's next task
