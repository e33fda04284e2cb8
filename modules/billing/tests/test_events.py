"""Billing reacts to TripCompleted: one invoice per trip, then a collection attempt.

Each test delivers the event the way the worker's ``platform.deliver`` task does
(``event_deliver``): in billing's transaction, recorded in billing's inbox.
"""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modules.billing import api
from modules.billing.models import Inbox, Invoice, Payment, SandboxCharge, Tariff
from modules.trips.events import TripCompleted
from monolith.platform.events import DomainEvent, subscribers_of, subscriptions_only
from monolith.platform.money import Money
from monolith.platform.outbox.machinery import event_deliver, relay_after_commit
from monolith.platform.registry import module_database

# Collection waits for the commit of billing's database.
BILLING_DB = module_database("billing")


def deliver(event: DomainEvent, event_id: uuid.UUID | None = None) -> bool:
    """Deliver ``event`` (a new event id unless given) to billing, as the worker does."""
    return event_deliver(
        publisher="trips",
        event_id=str(event_id or uuid.uuid4()),
        subscriber="billing",
        name=event.name,
        payload=event.payload(),
    )


@pytest.fixture(autouse=True)
def no_relay_task(settings: Any) -> None:
    """Billing's own events (InvoiceIssued) stay in its outbox: no relay task is queued when
    the captured commit callbacks run."""
    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = False


@pytest.fixture(autouse=True)
def billing_only() -> Iterator[None]:
    """Deliver TripCompleted to billing alone: other modules' handlers are theirs to test."""
    assert "billing" in subscribers_of(TripCompleted)
    with subscriptions_only(TripCompleted, "billing"):
        yield


def _completed(rider_id: uuid.UUID, trip_id: uuid.UUID | None = None) -> TripCompleted:
    return TripCompleted(
        trip_id=trip_id or uuid.uuid4(),
        rider_id=rider_id,
        vehicle_id=uuid.uuid4(),
        distance_km=Decimal("10.000"),
        duration_seconds=600,
        completed_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    )


def test_event_delivered_twice_issues_one_invoice(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_visa")
    event = _completed(rider.id)
    event_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True):
        assert deliver(event, event_id) is True
        # The same delivery again (a redelivered task): the inbox says it is done.
        assert deliver(event, event_id) is False
        # The same fact published twice (two event ids): the invoice is still the trip's one.
        assert deliver(event) is True
    assert Inbox.objects.filter(subscriber="billing").count() == 2

    invoice = Invoice.objects.get(trip_id=event.trip_id)
    assert Invoice.objects.count() == 1
    assert invoice.rider_id == rider.id
    assert invoice.total == Decimal("17.50")
    assert invoice.trip_completed_at == event.completed_at
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1


def test_redelivery_later_charges_nothing_new(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_chargeDeclined")
    event = _completed(rider.id)
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True):
        deliver(event)
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True) as callbacks:
        deliver(event)
    # No second collection attempt (only the outbox's relay hook, switched off here).
    assert [c for c in callbacks if getattr(c, "func", None) is not relay_after_commit] == []
    assert Payment.objects.get().failure_code == "card_declined"
    assert Invoice.objects.get().status == Invoice.Status.PAYMENT_FAILED


def test_collection_waits_for_the_commit(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_visa")
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=False) as callbacks:
        deliver(_completed(rider.id))
    # The collection attempt, and the relay of billing's InvoiceIssued.
    assert [getattr(c, "func", None) is relay_after_commit for c in callbacks] == [True, False]
    assert not SandboxCharge.objects.exists()


def test_gateway_outage_after_commit_leaves_the_invoice_to_retry(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_processingError")
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True):
        deliver(_completed(rider.id))
    assert Invoice.objects.get().status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()


def test_without_a_tariff_the_event_is_not_handled(rider: Any, db: Any) -> None:
    with pytest.raises(api.NoTariffInForce):
        deliver(_completed(rider.id))
    assert not Invoice.objects.exists()
    # Nothing recorded as processed: the retry (or the parked delivery's retry) handles it.
    assert not Inbox.objects.exists()


def test_invoice_for_trip_reads_the_issued_invoice(rider: Any, tariff: Tariff) -> None:
    event = _completed(rider.id)
    deliver(event)
    summary = api.invoice_for_trip(trip_id=event.trip_id)
    assert summary.trip_id == event.trip_id
    assert summary.rider_id == rider.id
    assert summary.status == "issued"
    assert summary.total == Money(Decimal("17.50"), "EUR")
    assert summary.number.startswith("INV-")
    assert api.invoice_get(invoice_id=summary.id) == summary
    with pytest.raises(api.InvoiceNotFound):
        api.invoice_for_trip(trip_id=uuid.uuid4())
