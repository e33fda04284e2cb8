"""Billing reacts to TripCompleted by issuing one invoice per trip, and to its own
InvoiceIssued with the first collection attempt.

Each test delivers events the way the worker's ``platform.deliver`` task does
(``event_deliver``): in billing's transaction, recorded in billing's inbox.
"""

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modules.billing import api
from modules.billing.errors import PaymentGatewayUnavailable
from modules.billing.events import InvoiceIssued, InvoicePaid, InvoicePaymentFailed
from modules.billing.models import Inbox, Invoice, Payment, SandboxCharge, Tariff
from modules.billing.tests.conftest import deliver
from modules.trips.events import TripCompleted
from monolith.platform.events import subscribers_of, subscriptions_only
from monolith.platform.money import Money
from monolith.platform.outbox.machinery import outbox_published


@pytest.fixture(autouse=True)
def no_relay_task(settings: Any) -> None:
    """Events stay in their outboxes: each test delivers what it means to, by hand."""
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


def _issued() -> InvoiceIssued:
    (event,) = outbox_published("billing", InvoiceIssued)
    return event


def test_event_delivered_twice_issues_one_invoice(rider: Any, tariff: Tariff) -> None:
    event = _completed(rider.id)
    event_id = uuid.uuid4()
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
    # Collection is the next step, not this one: nothing is charged yet.
    assert invoice.status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()
    assert _issued().invoice_id == invoice.id


def test_invoice_issued_collects_once(
    rider: Any, tariff: Tariff, card: Callable[[Any, str], None]
) -> None:
    card(rider, "tok_visa")
    deliver(_completed(rider.id))
    issued, issued_id = _issued(), uuid.uuid4()

    assert deliver(issued, issued_id) is True
    assert deliver(issued, issued_id) is False
    # The same fact again under a new id: the invoice is paid, nothing more is charged.
    assert deliver(issued) is True

    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    assert (payment.source, payment.amount, payment.attempt) == ("card", Decimal("17.50"), 1)
    assert SandboxCharge.objects.count() == 1
    (paid,) = outbox_published("billing", InvoicePaid)
    assert (paid.invoice_id, paid.payment_id, paid.amount) == (
        invoice.id,
        payment.id,
        invoice.total,
    )


def test_a_declined_first_attempt_is_not_repeated_by_a_redelivery(
    rider: Any, tariff: Tariff, card: Callable[[Any, str], None], caplog: Any
) -> None:
    card(rider, "tok_chargeDeclined")
    deliver(_completed(rider.id))
    deliver(_issued())
    # A second delivery of the fact (new id): the first attempt was made, the next one is
    # the rider's or staff's call.
    with caplog.at_level(logging.INFO, logger="modules.billing.handlers"):
        assert deliver(_issued()) is True
    assert "first collection attempt was made already" in caplog.text

    assert Payment.objects.get().failure_code == "card_declined"
    assert Invoice.objects.get().status == Invoice.Status.PAYMENT_FAILED
    (failed,) = outbox_published("billing", InvoicePaymentFailed)
    assert (failed.attempt, failed.failure_code) == (1, "card_declined")


def test_gateway_outage_leaves_the_delivery_to_retry(
    rider: Any, tariff: Tariff, card: Callable[[Any, str], None]
) -> None:
    card(rider, "tok_processingError")
    deliver(_completed(rider.id))
    issued, issued_id = _issued(), uuid.uuid4()

    with pytest.raises(PaymentGatewayUnavailable):
        deliver(issued, issued_id)
    assert Invoice.objects.get().status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()
    assert not Inbox.objects.filter(event_id=issued_id).exists()

    # The provider is back (here: the card works); the retried delivery collects.
    card(rider, "tok_visa")
    assert deliver(issued, issued_id) is True
    assert Invoice.objects.get().status == Invoice.Status.PAID


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
