"""Order per aggregate, in one process: which event each delivery waits for, and the wait.

The vehicles module's two event types carry the aggregate (``vehicle_id``). Here trips
handles both and billing only ``VehicleStatusChanged``, through handlers subscribed for these
tests alone.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.billing.models import Inbox as BillingInbox
from modules.vehicles.events import VehicleRegistered, VehicleStatusChanged
from modules.vehicles.models import Outbox as VehiclesOutbox
from monolith.platform.events import DomainEvent, publish, subscribe, subscriptions_only
from monolith.platform.outbox import machinery
from monolith.platform.outbox.order import DeliveryWaits, order_poll_seconds
from monolith.platform.registry import module_atomic
from monolith.platform.tests.outbox_support import Sent

pytestmark = pytest.mark.django_db


Handled = list[tuple[str, str]]


@pytest.fixture
def handled() -> Iterator[Handled]:
    """(subscriber, step) for each event handled, in the order the handlers ran."""
    seen: Handled = []

    def handler(subscriber: str) -> Callable[[Any], None]:
        def record(event: Any) -> None:
            step = getattr(event, "to_status", None) or f"registered {event.vin}"
            seen.append((subscriber, step))

        return record

    with subscriptions_only(VehicleRegistered), subscriptions_only(VehicleStatusChanged):
        subscribe(VehicleRegistered, handler("trips"), subscriber="trips")
        subscribe(VehicleStatusChanged, handler("trips"), subscriber="trips")
        subscribe(VehicleStatusChanged, handler("billing"), subscriber="billing")
        yield seen


def _registered(vehicle_id: uuid.UUID, vin: str = "VIN1") -> VehicleRegistered:
    return VehicleRegistered(
        vehicle_id=vehicle_id, vin=vin, seats=4, registered_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def _status(vehicle_id: uuid.UUID, to_status: str) -> VehicleStatusChanged:
    return VehicleStatusChanged(
        vehicle_id=vehicle_id,
        from_status="available",
        to_status=to_status,
        reason="test",
        changed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _publish(*published: DomainEvent) -> list[uuid.UUID]:
    """Publish in one vehicles transaction; the outbox ids, in publish order."""
    before = set(VehiclesOutbox.objects.values_list("id", flat=True))
    with module_atomic("vehicles"):
        for event in published:
            publish(event)
    return [
        row.id
        for row in VehiclesOutbox.objects.order_by("occurred_at", "id")
        if row.id not in before
    ]


def test_each_delivery_waits_for_the_aggregates_previous_event_for_its_subscriber(
    handled: Handled,
) -> None:
    vehicle, other = uuid.uuid4(), uuid.uuid4()
    registered, maintenance, available, elsewhere = _publish(
        _registered(vehicle),
        _status(vehicle, "maintenance"),
        _status(vehicle, "available"),
        _status(other, "maintenance"),
    )
    sent = Sent()
    assert machinery.outbox_relay_run("vehicles", send=sent) == 4

    # trips handles both types: every event waits for the one before it.
    assert sent.after(registered, "trips") is None
    assert sent.after(maintenance, "trips") == str(registered)
    assert sent.after(available, "trips") == str(maintenance)
    # billing never receives VehicleRegistered, so it must not wait for one.
    assert sent.after(maintenance, "billing") is None
    assert sent.after(available, "billing") == str(maintenance)
    # Another vehicle is another aggregate.
    assert sent.after(elsewhere, "trips") is None
    assert sent.after(elsewhere, "billing") is None
    # The predecessor travels with its name and time, for the wait's message and pruning.
    after = sent.to("billing")[1]["after"]
    row = VehiclesOutbox.objects.get(pk=maintenance)
    assert after == {
        "event_id": str(maintenance),
        "name": VehicleStatusChanged.name,
        "occurred_at": row.occurred_at.isoformat(),
    }


def test_the_predecessor_is_found_in_an_earlier_batch(handled: Handled) -> None:
    vehicle = uuid.uuid4()
    maintenance, registered, available = _publish(
        _status(vehicle, "maintenance"),
        _registered(vehicle, "VIN2"),  # a re-registration, say
        _status(vehicle, "available"),
    )
    sent = Sent()
    assert machinery.outbox_relay_run("vehicles", send=sent, limit=2) == 2
    assert machinery.outbox_relay_run("vehicles", send=sent, limit=2) == 1

    # The third event's batch holds nothing earlier: the outbox is asked, per subscriber.
    assert sent.after(available, "trips") == str(registered)
    assert sent.after(available, "billing") == str(maintenance)


def test_an_event_without_an_aggregate_waits_for_nothing(handled: Handled) -> None:
    vehicle = uuid.uuid4()
    _publish(_status(vehicle, "maintenance"), _status(vehicle, "available"))
    VehiclesOutbox.objects.update(aggregate_id="")
    sent = Sent()
    machinery.outbox_relay_run("vehicles", send=sent)
    assert [d["after"] for d in sent.deliveries] == [None] * 4


def _relay_queries(aggregates: int) -> int:
    """Statements one relay batch takes when each of ``aggregates`` vehicles has an event
    waiting and an earlier one relayed in a previous batch."""
    vehicles = [uuid.uuid4() for _ in range(aggregates)]
    _publish(*(_status(vehicle, "maintenance") for vehicle in vehicles))
    machinery.outbox_relay_run("vehicles", send=Sent())
    _publish(*(_status(vehicle, "available") for vehicle in vehicles))
    sent = Sent()
    with CaptureQueriesContext(connection) as queries:
        machinery.outbox_relay_run("vehicles", send=sent)
    assert all(d["after"] for d in sent.deliveries)
    return len(queries.captured_queries)


def test_predecessors_take_one_query_per_batch_whatever_its_size(handled: Handled) -> None:
    assert _relay_queries(2) == _relay_queries(12)


def test_a_delivery_waits_until_its_predecessor_is_processed(handled: Handled) -> None:
    vehicle = uuid.uuid4()
    maintenance, _ = _publish(_status(vehicle, "maintenance"), _status(vehicle, "available"))
    sent = Sent()
    machinery.outbox_relay_run("vehicles", send=sent)
    first, second = sent.to("billing")

    with pytest.raises(DeliveryWaits) as waits:
        machinery.event_deliver(**second)
    assert str(maintenance) in str(waits.value)
    assert VehicleStatusChanged.name in str(waits.value)
    assert not waits.value.parked
    assert handled == []
    assert not BillingInbox.objects.exists()

    assert machinery.event_deliver(**first) is True
    assert machinery.event_deliver(**second) is True
    assert handled == [("billing", "maintenance"), ("billing", "available")]


def test_a_predecessor_older_than_the_inbox_retention_is_not_waited_for(
    handled: Handled, settings: Any
) -> None:
    settings.FLEET_INBOX_RETENTION_DAYS = 14
    vehicle = uuid.uuid4()
    _publish(_status(vehicle, "maintenance"), _status(vehicle, "available"))
    sent = Sent()
    machinery.outbox_relay_run("vehicles", send=sent)
    _, second = sent.to("billing")
    # Its inbox row may have been pruned: waiting for it could never end.
    old = timezone.now() - timedelta(days=15)
    second["after"] = {**second["after"], "occurred_at": old.isoformat()}

    assert machinery.event_deliver(**second) is True
    assert handled == [("billing", "available")]


def test_a_delivery_whose_predecessor_is_parked_is_parked_at_once(
    handled: Handled, settings: Any
) -> None:
    settings.FLEET_EVENT_ORDER_MAX_WAIT_SECONDS = 600
    vehicle = uuid.uuid4()
    _publish(_status(vehicle, "maintenance"), _status(vehicle, "available"))
    sent = Sent()
    machinery.outbox_relay_run("vehicles", send=sent)
    first, second = sent.to("billing")

    with pytest.raises(DeliveryWaits) as waits:
        machinery.event_deliver(**second)
    assert machinery.delivery_wait(waits.value, waiting_since=time.time()) is not None

    machinery.delivery_park(**first, attempts=5, error=RuntimeError("boom"))
    with pytest.raises(DeliveryWaits) as waits:
        machinery.event_deliver(**second)
    assert waits.value.parked
    assert "is parked by billing" in str(waits.value)
    assert machinery.delivery_wait(waits.value, waiting_since=time.time()) is None


def test_a_wait_looks_again_sooner_first_and_ends_after_the_longest_wait(
    handled: Handled, settings: Any
) -> None:
    settings.FLEET_EVENT_ORDER_MAX_WAIT_SECONDS = 30
    assert [order_poll_seconds(w) for w in (0, 0.1, 0.4, 1.5, 10)] == [0.05, 0.1, 0.4, 1.5, 2.0]
    vehicle = uuid.uuid4()
    _publish(_status(vehicle, "maintenance"), _status(vehicle, "available"))
    sent = Sent()
    machinery.outbox_relay_run("vehicles", send=sent)
    with pytest.raises(DeliveryWaits) as waits:
        machinery.event_deliver(**sent.to("billing")[1])

    assert machinery.delivery_wait(waits.value, waiting_since=time.time() - 29) == 2.0
    assert machinery.delivery_wait(waits.value, waiting_since=time.time() - 31) is None


def test_deliver_events_keeps_each_aggregates_order(
    handled: Handled, deliver_events: Callable[..., int]
) -> None:
    vehicle, other = uuid.uuid4(), uuid.uuid4()
    _publish(_registered(vehicle), _status(vehicle, "maintenance"), _status(other, "charging"))
    _publish(_status(vehicle, "available"))

    assert deliver_events() == 7
    assert [step for who, step in handled if who == "trips"] == [
        "registered VIN1",
        "maintenance",
        "charging",
        "available",
    ]
    assert [step for who, step in handled if who == "billing"] == [
        "maintenance",
        "charging",
        "available",
    ]


def test_deliver_events_refuses_to_skip_a_predecessor_it_cannot_deliver(
    handled: Handled, deliver_events: Callable[..., int]
) -> None:
    vehicle = uuid.uuid4()
    (maintenance,) = _publish(_status(vehicle, "maintenance"))
    machinery.outbox_relay_run("vehicles", send=Sent())  # relayed, never delivered
    _publish(_status(vehicle, "available"))

    with pytest.raises(DeliveryWaits, match=str(maintenance)):
        deliver_events()
    assert handled == []


def test_retried_parked_deliveries_keep_their_aggregates_order(
    handled: Handled, django_capture_on_commit_callbacks: Any
) -> None:
    vehicle = uuid.uuid4()
    maintenance, available = _publish(
        _status(vehicle, "maintenance"), _status(vehicle, "available")
    )
    sent = Sent()
    machinery.outbox_relay_run("vehicles", send=sent)
    for delivery in sent.to("billing"):
        machinery.delivery_park(**delivery, attempts=5, error=RuntimeError("boom"))
    parked = machinery.parked_table("billing").objects.order_by("event_id")

    with django_capture_on_commit_callbacks(using="default", execute=False) as callbacks:
        assert machinery.parked_deliveries_retry("billing", parked) == 2
    afters = {callback.keywords["event_id"]: callback.keywords["after"] for callback in callbacks}
    assert afters[str(maintenance)] is None
    assert afters[str(available)]["event_id"] == str(maintenance)
