"""What happens to the credit a booking holds once its trip is billed, voided or interrupted.

Paid by card: the hold is released. The card failed: the invoice takes what it owes from the
hold (a wallet payment), the rest of the hold is released. Voided or interrupted: the rider
owes nothing and gets everything back. Every step is an event delivery, safe to repeat.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from modules.billing import services
from modules.billing.events import (
    InvoiceIssued,
    InvoicePaid,
    InvoicePaymentFailed,
    InvoiceVoided,
)
from modules.billing.models import Invoice, Payment, Refund, SandboxCharge, Tariff
from modules.billing.tests.conftest import deliver
from modules.trips import api as trips_api
from modules.trips.events import TripCancelled, TripCompleted, TripInterrupted
from modules.users import api as users_api
from monolith.platform.money import Money
from monolith.platform.outbox.machinery import outbox_published

Book = Callable[..., users_api.CreditHoldSummary]
Card = Callable[[Any, str], None]
Deliver = Callable[..., int]

FARE = Decimal("17.50")  # 10 km and 10 minutes at the test tariff


@pytest.fixture(autouse=True)
def no_relay_task(settings: Any) -> None:
    """Events wait in their outboxes until a test delivers them."""
    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = False


def _complete(rider: Any, trip_id: uuid.UUID) -> None:
    """The trip completed and billing heard of it: its invoice is issued (not yet collected)."""
    deliver(
        TripCompleted(
            trip_id=trip_id,
            rider_id=rider.id,
            vehicle_id=uuid.uuid4(),
            distance_km=Decimal("10.00"),
            duration_seconds=600,
            completed_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
        )
    )


def _interrupted(rider: Any, trip_id: uuid.UUID) -> TripInterrupted:
    return TripInterrupted(
        trip_id=trip_id,
        rider_id=rider.id,
        vehicle_id=uuid.uuid4(),
        started_at=datetime(2024, 3, 1, 11, 50, tzinfo=UTC),
        interrupted_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
        reason="Vehicle went offline during the ride: lidar fault",
    )


def _hold(rider: Any, trip_id: uuid.UUID) -> users_api.CreditHoldSummary:
    hold = users_api.credit_hold_find(
        rider_id=rider.id, reference=trips_api.booking_credit_reference(trip_id=trip_id)
    )
    assert hold is not None
    return hold


def _wallet(rider: Any) -> tuple[Decimal, Decimal]:
    wallet = users_api.wallet_get(rider_id=rider.id)
    return wallet.available.amount, wallet.held.amount


def _failed_event(invoice: Invoice) -> InvoicePaymentFailed:
    (event,) = [
        e for e in outbox_published("billing", InvoicePaymentFailed) if e.invoice_id == invoice.id
    ]
    return event


# Paid by card -----------------------------------------------------------------------------


def test_a_card_payment_releases_the_booking_hold(
    rider: Any, tariff: Tariff, card: Card, book: Book, deliver_events: Deliver
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_visa")
    book(rider, trip_id, hold="30.00")
    assert _wallet(rider) == (Decimal("20.00"), Decimal("30.00"))

    _complete(rider, trip_id)
    deliver_events(["billing"])

    invoice = Invoice.objects.get(trip_id=trip_id)
    assert invoice.status == Invoice.Status.PAID
    assert [(p.source, p.status, p.amount) for p in invoice.payments.all()] == [
        ("card", "succeeded", FARE)
    ]
    assert _hold(rider, trip_id).status == "released"
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


# The card failed: the booking's hold pays ---------------------------------------------------


@pytest.mark.parametrize("token", ["tok_chargeDeclined", None])
def test_a_failed_card_is_paid_from_the_hold_and_the_rest_goes_back(
    rider: Any, tariff: Tariff, card: Card, book: Book, deliver_events: Deliver, token: str | None
) -> None:
    trip_id = uuid.uuid4()
    if token:
        card(rider, token)
    book(rider, trip_id, hold="30.00")
    _complete(rider, trip_id)
    deliver_events(["billing"])

    invoice = Invoice.objects.get(trip_id=trip_id)
    assert invoice.status == Invoice.Status.PAID
    failed, wallet = invoice.payments.order_by("attempt")
    assert (failed.source, failed.status) == ("card", "failed")
    assert failed.failure_code == ("card_declined" if token else "no_payment_method")
    assert (wallet.source, wallet.status, wallet.amount, wallet.attempt) == (
        "wallet",
        "succeeded",
        FARE,
        2,
    )
    hold = _hold(rider, trip_id)
    assert wallet.idempotency_key == f"credit-hold-{hold.id}"
    assert (hold.status, hold.captured) == ("captured", Money(FARE, "EUR"))
    # 50 topped up, 17.50 spent; the other 12.50 of the hold is available again.
    assert _wallet(rider) == (Decimal("32.50"), Decimal("0.00"))
    (paid,) = outbox_published("billing", InvoicePaid)
    assert (paid.payment_id, paid.amount) == (wallet.id, FARE)
    assert not SandboxCharge.objects.filter(status="succeeded").exists()


def test_a_hold_smaller_than_the_invoice_pays_part_and_the_card_the_rest(
    rider: Any, tariff: Tariff, card: Card, book: Book, deliver_events: Deliver
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    book(rider, trip_id, hold="10.00")
    _complete(rider, trip_id)
    deliver_events(["billing"])

    invoice = Invoice.objects.get(trip_id=trip_id)
    assert invoice.status == Invoice.Status.PAYMENT_FAILED
    assert invoice.payments.get(source="wallet").amount == Decimal("10.00")
    assert not outbox_published("billing", InvoicePaid)

    # The rider fixes the card and pays what is left: 7.50, not the whole fare.
    card(rider, "tok_visa")
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    assert (payment.source, payment.amount, payment.status) == (
        "card",
        Decimal("7.50"),
        "succeeded",
    )
    assert SandboxCharge.objects.get(status="succeeded").amount == Decimal("7.50")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    deliver_events(["billing"])  # InvoicePaid: the hold was spent, nothing is left to release
    assert _hold(rider, trip_id).status == "captured"
    assert _wallet(rider) == (Decimal("40.00"), Decimal("0.00"))

    # Refunds go back the way the money came, and the invoice counts both payments.
    services.payment_refund(payment_id=payment.id, amount=None, reason="Goodwill", by_id=None)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PARTIALLY_REFUNDED
    wallet_payment = invoice.payments.get(source="wallet")
    refund = services.payment_refund(
        payment_id=wallet_payment.id, amount=None, reason="Goodwill", by_id=None
    )
    assert refund.gateway_refund_id == ""
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.REFUNDED
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


def test_without_a_booking_hold_nothing_is_taken_and_the_log_says_so(
    rider: Any, tariff: Tariff, card: Card, deliver_events: Deliver, caplog: Any
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    _complete(rider, trip_id)
    with caplog.at_level(logging.INFO, logger="modules.billing.services"):
        deliver_events(["billing"])

    invoice = Invoice.objects.get(trip_id=trip_id)
    assert invoice.status == Invoice.Status.PAYMENT_FAILED
    assert invoice.payments.count() == 1
    assert f"invoice {invoice.number}: the trip has no booking hold" in caplog.text


def test_the_failure_delivered_again_takes_the_credit_once(
    rider: Any, tariff: Tariff, card: Card, book: Book
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    book(rider, trip_id)
    _complete(rider, trip_id)
    (issued,) = outbox_published("billing", InvoiceIssued)
    deliver(issued)
    invoice = Invoice.objects.get(trip_id=trip_id)
    failed, failed_id = _failed_event(invoice), uuid.uuid4()

    assert deliver(failed, failed_id) is True
    assert deliver(failed, failed_id) is False  # the same task again: the inbox knows it
    assert deliver(failed) is True  # the same fact again: the hold's payment is found

    assert invoice.payments.filter(source="wallet").count() == 1
    assert _wallet(rider) == (Decimal("32.50"), Decimal("0.00"))
    assert len(outbox_published("billing", InvoicePaid)) == 1


def test_a_run_that_failed_after_capturing_is_redone_without_a_second_capture(
    rider: Any, tariff: Tariff, card: Card, book: Book, monkeypatch: Any
) -> None:
    """Peeled, users commits the capture on its own database while billing's transaction
    fails; in the monolith both roll back. Either way the retry ends with one payment."""
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    book(rider, trip_id)
    _complete(rider, trip_id)
    (issued,) = outbox_published("billing", InvoiceIssued)
    deliver(issued)
    invoice = Invoice.objects.get(trip_id=trip_id)
    failed, failed_id = _failed_event(invoice), uuid.uuid4()

    real_mark_paid = services._invoice_mark_paid

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the worker died after the capture")

    monkeypatch.setattr(services, "_invoice_mark_paid", crash)
    with pytest.raises(RuntimeError):
        deliver(failed, failed_id)
    assert not invoice.payments.filter(source="wallet").exists()

    monkeypatch.setattr(services, "_invoice_mark_paid", real_mark_paid)
    assert deliver(failed, failed_id) is True
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.payments.get(source="wallet").amount == FARE
    assert _hold(rider, trip_id).captured == Money(FARE, "EUR")
    assert _wallet(rider) == (Decimal("32.50"), Decimal("0.00"))


def test_a_capture_whose_record_was_lost_is_recorded_not_repeated(
    rider: Any, tariff: Tariff, card: Card, book: Book
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    hold = book(rider, trip_id)
    _complete(rider, trip_id)
    (issued,) = outbox_published("billing", InvoiceIssued)
    deliver(issued)
    invoice = Invoice.objects.get(trip_id=trip_id)
    # What an earlier run committed in users before its billing transaction was lost.
    users_api.credit_capture(hold_id=hold.id, amount=FARE)

    deliver(_failed_event(invoice))

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.payments.get(source="wallet").amount == FARE
    assert _wallet(rider) == (Decimal("32.50"), Decimal("0.00"))


def test_a_lost_capture_found_after_the_card_paid_goes_back_to_the_wallet(
    rider: Any, tariff: Tariff, card: Card, book: Book
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    hold = book(rider, trip_id)
    _complete(rider, trip_id)
    (issued,) = outbox_published("billing", InvoiceIssued)
    deliver(issued)
    invoice = Invoice.objects.get(trip_id=trip_id)
    users_api.credit_capture(hold_id=hold.id, amount=FARE)  # its record was lost
    card(rider, "tok_visa")
    services.invoice_collect_payment(invoice_id=invoice.id)  # the rider paid by card meanwhile

    deliver(_failed_event(invoice))

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    wallet_payment = invoice.payments.get(source="wallet")
    (refund,) = Refund.objects.filter(payment=wallet_payment)
    assert refund.amount == FARE
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


def test_a_failure_delivered_after_the_card_paid_only_releases_the_hold(
    rider: Any, tariff: Tariff, card: Card, book: Book
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    book(rider, trip_id)
    _complete(rider, trip_id)
    (issued,) = outbox_published("billing", InvoiceIssued)
    deliver(issued)
    invoice = Invoice.objects.get(trip_id=trip_id)
    card(rider, "tok_visa")
    services.invoice_collect_payment(invoice_id=invoice.id)

    deliver(_failed_event(invoice))

    assert not invoice.payments.filter(source="wallet").exists()
    assert _hold(rider, trip_id).status == "released"
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


# Voided -----------------------------------------------------------------------------------


def test_voiding_releases_the_hold(
    rider: Any, tariff: Tariff, book: Book, deliver_events: Deliver
) -> None:
    trip_id = uuid.uuid4()
    book(rider, trip_id)
    _complete(rider, trip_id)
    invoice = Invoice.objects.get(trip_id=trip_id)
    services.invoice_void(invoice_id=invoice.id)
    (voided,) = outbox_published("billing", InvoiceVoided)
    assert voided.invoice_id == invoice.id

    deliver_events(["billing"])  # the collection step finds the invoice void; the release runs

    assert _hold(rider, trip_id).status == "released"
    assert not Payment.objects.exists()
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


def test_voiding_gives_back_what_the_wallet_paid_on_it(
    rider: Any, tariff: Tariff, card: Card, book: Book, deliver_events: Deliver
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    book(rider, trip_id, hold="10.00")
    _complete(rider, trip_id)
    deliver_events(["billing"])
    invoice = Invoice.objects.get(trip_id=trip_id)
    assert invoice.status == Invoice.Status.PAYMENT_FAILED
    assert _wallet(rider) == (Decimal("40.00"), Decimal("0.00"))

    services.invoice_void(invoice_id=invoice.id, reason="Goodwill")
    deliver_events(["billing"])

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID
    (refund,) = Refund.objects.filter(payment__invoice=invoice)
    assert (refund.amount, refund.reason) == (Decimal("10.00"), "Goodwill")
    assert _hold(rider, trip_id).status == "captured"
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


# Interrupted ------------------------------------------------------------------------------


def test_an_interrupted_trip_gets_its_hold_back_once(rider: Any, book: Book, caplog: Any) -> None:
    trip_id = uuid.uuid4()
    book(rider, trip_id)
    event, event_id = _interrupted(rider, trip_id), uuid.uuid4()

    assert deliver(event, event_id) is True
    assert deliver(event, event_id) is False
    with caplog.at_level(logging.INFO, logger="modules.billing.services"):
        assert deliver(event) is True

    assert _hold(rider, trip_id).status == "released"
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))
    assert f"the booking hold of trip {trip_id} is already released" in caplog.text
    assert not Invoice.objects.exists()


def test_a_cancelled_trip_gets_its_hold_back_once(rider: Any, book: Book) -> None:
    trip_id = uuid.uuid4()
    book(rider, trip_id)
    event = TripCancelled(
        trip_id=trip_id,
        rider_id=rider.id,
        reason="rider_changed_mind",
        cancelled_by="rider",
        cancelled_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    )
    event_id = uuid.uuid4()

    assert deliver(event, event_id) is True
    assert deliver(event, event_id) is False

    assert _hold(rider, trip_id).status == "released"
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))
    assert not Invoice.objects.exists()


def test_an_interrupted_trip_without_a_hold_is_logged(rider: Any, db: Any, caplog: Any) -> None:
    trip_id = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="modules.billing.services"):
        assert deliver(_interrupted(rider, trip_id)) is True
    assert f"trip {trip_id} has no booking hold to release" in caplog.text


@pytest.mark.parametrize(
    ("token", "expected"),
    [(None, Invoice.Status.VOID), ("tok_visa", Invoice.Status.REFUNDED)],
)
def test_an_interrupted_trip_that_was_invoiced_costs_nothing(
    rider: Any,
    tariff: Tariff,
    card: Card,
    book: Book,
    token: str | None,
    expected: str,
) -> None:
    """Not reachable through the trip lifecycle (only completed trips are invoiced), but if
    an invoice exists anyway, the rider still pays nothing."""
    trip_id = uuid.uuid4()
    book(rider, trip_id)
    _complete(rider, trip_id)
    invoice = Invoice.objects.get(trip_id=trip_id)
    if token:
        card(rider, token)
        services.invoice_collect_payment(invoice_id=invoice.id)

    deliver(_interrupted(rider, trip_id))

    invoice.refresh_from_db()
    assert invoice.status == expected
    if token:
        assert Refund.objects.get().amount == FARE
        assert SandboxCharge.objects.get().refunds.get().amount == FARE
    assert _hold(rider, trip_id).status == "released"
    assert _wallet(rider) == (Decimal("50.00"), Decimal("0.00"))


# What staff and riders see ----------------------------------------------------------------


def test_wallet_and_card_payments_are_told_apart(
    rider: Any,
    tariff: Tariff,
    card: Card,
    book: Book,
    deliver_events: Deliver,
    superuser: Any,
    client_for: Any,
) -> None:
    trip_id = uuid.uuid4()
    card(rider, "tok_chargeDeclined")
    book(rider, trip_id)
    _complete(rider, trip_id)
    deliver_events(["billing"])
    invoice = Invoice.objects.get(trip_id=trip_id)

    body = client_for(rider).get("/api/v1/billing/payments/", {"source": "wallet"}).json()
    assert [(p["source"], p["amount"], p["status"]) for p in body["results"]] == [
        ("wallet", "17.50", "succeeded")
    ]
    body = client_for(rider).get("/api/v1/billing/payments/").json()
    assert sorted(p["source"] for p in body["results"]) == ["card", "wallet"]

    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/billing/invoice/{invoice.id}/change/").content.decode()
    assert "Wallet credit" in page
    assert "Card" in page
    listed = client.get("/admin/billing/payment/", {"source__exact": "wallet"}).content.decode()
    # One row: the wallet payment; the failed card attempt is filtered out.
    assert listed.count('<td class="field-source">Wallet credit</td>') == 1
    assert '<td class="field-source">Card</td>' not in listed
