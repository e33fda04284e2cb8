"""The sweep sends again what was relayed and never handled (a delivery the broker lost), and
marks complete what every subscriber has: in one process, ``send`` recorded."""

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from modules.billing.models import Inbox, ParkedDelivery
from modules.trips.events import TripCompleted
from modules.trips.models import Outbox as TripsOutbox
from monolith.platform import events
from monolith.platform.outbox import machinery
from monolith.platform.tests import test_worker_process
from monolith.platform.tests.broker_support import publishing_to
from monolith.platform.tests.outbox_support import Sent, tariff_ensure, trip_complete_for
from monolith.platform.tests.test_outbox_faults import _messages_waiting
from monolith.platform.tests.test_worker_process import Broker

pytestmark = pytest.mark.django_db

WINDOW = 60

# Each broker under test, with a queue and key prefix of its own.
broker = test_worker_process.broker


@pytest.fixture(autouse=True)
def _resend_window(settings: Any) -> None:
    settings.FLEET_OUTBOX_RESEND_AFTER_SECONDS = WINDOW
    # The sweep's relay of waiting rows stays out of the way: these tests relay themselves.
    settings.FLEET_OUTBOX_SWEEP_AFTER_SECONDS = 3600


def _relayed_trip_completed(rider: Any, *, ago: int) -> Any:
    """A TripCompleted relayed ``ago`` seconds ago (its delivery recorded, not run)."""
    trip_complete_for(rider)
    machinery.outbox_relay_run("trips", send=Sent())
    message = TripsOutbox.objects.get(name=TripCompleted.name)
    relayed = timezone.now() - timedelta(seconds=ago)
    TripsOutbox.objects.filter(pk=message.pk).update(occurred_at=relayed, relayed_at=relayed)
    return TripsOutbox.objects.get(pk=message.pk)


def _resent_to(sent: Sent, message: Any) -> list[str]:
    return [d["subscriber"] for d in sent.deliveries if d["event_id"] == str(message.id)]


def test_a_delivery_no_inbox_shows_after_the_window_is_sent_again_once(rider: Any) -> None:
    message = _relayed_trip_completed(rider, ago=WINDOW + 5)
    sent = Sent()

    machinery.outbox_sweep_run(send=sent)

    assert _resent_to(sent, message) == ["billing"]
    (delivery,) = sent.deliveries
    assert delivery["payload"] == message.payload
    assert delivery["name"] == TripCompleted.name
    message.refresh_from_db()
    assert message.completed_at is None
    # The window starts again: the next sweep does not send it a third time at once.
    assert message.relayed_at > timezone.now() - timedelta(seconds=5)
    machinery.outbox_sweep_run(send=sent)
    assert len(sent.deliveries) == 1


def test_the_resent_delivery_has_its_effect_and_the_event_is_then_completed(
    rider: Any,
) -> None:
    tariff_ensure()
    message = _relayed_trip_completed(rider, ago=WINDOW + 5)
    sent = Sent()
    machinery.outbox_sweep_run(send=sent)
    (delivery,) = sent.deliveries

    assert machinery.event_deliver(**delivery) is True
    assert Inbox.objects.filter(event_id=message.id, subscriber="billing").count() == 1
    TripsOutbox.objects.filter(pk=message.pk).update(
        relayed_at=timezone.now() - timedelta(seconds=WINDOW + 5)
    )
    machinery.outbox_sweep_run(send=sent)

    assert len(sent.deliveries) == 1  # not sent again
    message.refresh_from_db()
    assert message.completed_at is not None


def test_a_delivery_still_inside_the_window_is_left_alone(rider: Any) -> None:
    message = _relayed_trip_completed(rider, ago=WINDOW - 10)
    sent = Sent()

    machinery.outbox_sweep_run(send=sent)

    assert sent.deliveries == []
    message.refresh_from_db()
    assert message.completed_at is None


def test_a_parked_delivery_counts_as_handled_until_staff_retry_it(rider: Any) -> None:
    message = _relayed_trip_completed(rider, ago=WINDOW + 5)
    parked = ParkedDelivery.objects.create(
        event_id=message.id,
        event_name=message.name,
        publisher="trips",
        subscriber="billing",
        payload=message.payload,
        attempts=5,
        last_error="RuntimeError: gateway down",
        parked_at=timezone.now(),
    )
    sent = Sent()
    machinery.outbox_sweep_run(send=sent)
    assert sent.deliveries == []
    message.refresh_from_db()
    assert message.completed_at is not None

    # Retried from the admin: that delivery can be lost too, so it is watched again.
    TripsOutbox.objects.filter(pk=message.pk).update(completed_at=None)
    parked.retried_at = timezone.now()
    parked.save()
    machinery.outbox_sweep_run(send=sent)
    assert _resent_to(sent, message) == ["billing"]


def test_an_event_nobody_subscribes_to_is_completed_when_relayed(rider: Any) -> None:
    trip_complete_for(rider)
    machinery.outbox_relay_run("trips", send=Sent())

    messages = list(TripsOutbox.objects.all())
    assert messages
    for message in messages:
        subscribed = bool(events.subscribers_of(events.event_type_named(message.name)))
        assert (message.completed_at is None) is subscribed, message.name


def test_an_event_older_than_its_inbox_retention_allows_is_never_resent(
    rider: Any, settings: Any
) -> None:
    message = _relayed_trip_completed(rider, ago=WINDOW + 5)
    TripsOutbox.objects.filter(pk=message.pk).update(
        occurred_at=timezone.now() - timedelta(seconds=settings.FLEET_OUTBOX_RESEND_FOR_SECONDS + 1)
    )
    sent = Sent()

    machinery.outbox_sweep_run(send=sent)

    # Its inbox row may be pruned already: a copy could run the handler twice.
    assert sent.deliveries == []


def test_the_resend_keeps_the_aggregates_order(rider: Any) -> None:
    """Two lost deliveries of one aggregate: the later one waits for the earlier, as when they
    were first relayed."""
    first = _relayed_trip_completed(rider, ago=WINDOW + 10)
    later = TripsOutbox.objects.create(
        name=first.name,
        version=first.version,
        aggregate_id=first.aggregate_id,
        payload=first.payload,
        occurred_at=first.occurred_at + timedelta(seconds=1),
        relayed_at=first.relayed_at + timedelta(seconds=1),
    )
    sent = Sent()

    machinery.outbox_sweep_run(send=sent)

    assert [d["event_id"] for d in sent.deliveries] == [str(first.id), str(later.id)]
    assert sent.deliveries[1]["after"]["event_id"] == str(first.id)


def test_events_resend_sends_the_lost_deliveries_to_the_broker_now(
    rider: Any, broker: Broker
) -> None:
    message = _relayed_trip_completed(rider, ago=WINDOW + 5)
    out = StringIO()

    with publishing_to(
        broker.url, queue=broker.queue, transport_options=broker.transport_options()
    ):
        call_command("events", "resend", stdout=out)

    assert "trips: 1 relayed events past the window checked, 0 handled by every subscriber, " in (
        out.getvalue()
    )
    assert "1 deliveries sent again in all." in out.getvalue()
    assert _messages_waiting(broker) == 1
    message.refresh_from_db()
    assert message.completed_at is None
