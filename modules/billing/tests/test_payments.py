"""Collecting invoices through the gateway, refunds and voiding, as services."""

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from modules.billing import services
from modules.billing.api import PaymentGatewayUnavailable, RefundExceedsPayment
from modules.billing.events import InvoicePaid, InvoicePaymentFailed, PaymentRefunded
from modules.billing.gateways import SandboxGateway
from modules.billing.models import Invoice, Payment, SandboxCharge
from monolith.platform.errors import Conflict, IllegalTransition, InvalidRequest
from monolith.platform.outbox.machinery import outbox_published

Issue = Callable[..., Invoice]
Card = Callable[[Any, str], None]


class Published:
    """Billing's payment events its outbox received since the fixture was set up."""

    KINDS = (InvoicePaid, InvoicePaymentFailed, PaymentRefunded)

    def __init__(self) -> None:
        self.before = len(outbox_published("billing"))

    def _events(self) -> list[Any]:
        since: list[Any] = outbox_published("billing")[self.before :]
        return [event for event in since if isinstance(event, self.KINDS)]

    def __getitem__(self, index: int) -> Any:
        return self._events()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._events())


@pytest.fixture
def published(db: Any) -> Published:
    return Published()


def test_good_card_pays_the_invoice(
    rider: Any, issue: Issue, card: Card, published: Published
) -> None:
    card(rider, "tok_visa")
    invoice = issue(rider)
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.amount == Decimal("17.50")
    assert payment.attempt == 1
    charge = SandboxCharge.objects.get(charge_id=payment.gateway_charge_id)
    assert charge.amount == Decimal("17.50")
    assert charge.description == f"Invoice {invoice.number}"
    assert [type(event) for event in published] == [InvoicePaid]


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_expiredCard", "expired_card"),
        ("tok_madeUp", "invalid_card_token"),
    ],
)
def test_declined_card_fails_the_payment_with_its_code(
    rider: Any, issue: Issue, card: Card, published: Published, token: str, code: str
) -> None:
    card(rider, token)
    invoice = issue(rider)
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAYMENT_FAILED
    assert (payment.status, payment.failure_code) == (Payment.Status.FAILED, code)
    assert isinstance(published[0], InvoicePaymentFailed)
    assert published[0].failure_code == code


def test_no_payment_method_fails_without_calling_the_gateway(rider: Any, issue: Issue) -> None:
    invoice = issue(rider)
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAYMENT_FAILED
    assert payment.failure_code == "no_payment_method"
    assert payment.gateway_charge_id == ""
    assert not SandboxCharge.objects.exists()


def test_gateway_outage_leaves_the_invoice_issued(rider: Any, issue: Issue, card: Card) -> None:
    card(rider, "tok_processingError")
    invoice = issue(rider)
    with pytest.raises(PaymentGatewayUnavailable) as excinfo:
        services.invoice_collect_payment(invoice_id=invoice.id)
    assert excinfo.value.status == 503
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not invoice.payments.exists()


def test_retry_after_failure_is_a_new_attempt(rider: Any, issue: Issue, card: Card) -> None:
    card(rider, "tok_chargeDeclined")
    invoice = issue(rider)
    failed = services.invoice_collect_payment(invoice_id=invoice.id)
    card(rider, "tok_visa")
    paid = services.invoice_collect_payment(invoice_id=invoice.id)
    assert (failed.attempt, paid.attempt) == (1, 2)
    assert failed.idempotency_key != paid.idempotency_key
    assert paid.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 2


def test_an_attempt_whose_outcome_was_lost_is_not_charged_twice(
    rider: Any, issue: Issue, card: Card
) -> None:
    """The provider charged attempt 1 but the process died before recording it."""
    card(rider, "tok_visa")
    invoice = issue(rider)
    lost = SandboxGateway().charge(
        amount=invoice.total,
        currency=invoice.currency,
        card_token="tok_visa",
        idempotency_key=f"invoice-{invoice.id}-attempt-1",
        description=f"Invoice {invoice.number}",
    )
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    assert payment.gateway_charge_id == lost.charge_id
    assert SandboxCharge.objects.count() == 1


def test_a_paid_invoice_is_not_collected_again(rider: Any, issue: Issue, card: Card) -> None:
    card(rider, "tok_visa")
    invoice = issue(rider)
    services.invoice_collect_payment(invoice_id=invoice.id)
    with pytest.raises(IllegalTransition) as excinfo:
        services.invoice_collect_payment(invoice_id=invoice.id)
    assert "is paid" in excinfo.value.message
    assert SandboxCharge.objects.count() == 1


def test_a_free_invoice_is_paid_without_a_charge(rider: Any, db: Any) -> None:
    import uuid
    from datetime import UTC, datetime

    services.tariff_create(
        name="Free",
        base_fare=Decimal("0"),
        per_km=Decimal("0"),
        per_minute=Decimal("0"),
        minimum_fare=Decimal("0"),
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    invoice = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=rider.id,
        distance_km=Decimal("3"),
        duration_seconds=300,
        completed_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.amount == Decimal("0.00")
    assert not SandboxCharge.objects.exists()


@pytest.fixture
def paid(rider: Any, issue: Issue, card: Card) -> Payment:
    card(rider, "tok_visa")
    return services.invoice_collect_payment(invoice_id=issue(rider).id)


def test_partial_then_full_refund(paid: Payment, staff: Any, published: Published) -> None:
    first = services.payment_refund(
        payment_id=paid.id, amount=Decimal("7.50"), reason="Detour", by_id=staff.id
    )
    paid.invoice.refresh_from_db()
    assert paid.invoice.status == Invoice.Status.PARTIALLY_REFUNDED
    assert first.created_by_id == staff.id
    assert first.gateway_refund_id.startswith("re_")

    rest = services.payment_refund(
        payment_id=paid.id, amount=None, reason="Goodwill", by_id=staff.id
    )
    assert rest.amount == Decimal("10.00")
    paid.invoice.refresh_from_db()
    assert paid.invoice.status == Invoice.Status.REFUNDED
    assert [type(event) for event in published] == [PaymentRefunded, PaymentRefunded]


def test_refund_beyond_what_is_left_is_a_conflict(paid: Payment, staff: Any) -> None:
    services.payment_refund(payment_id=paid.id, amount=Decimal("10.00"), reason="x", by_id=staff.id)
    with pytest.raises(RefundExceedsPayment) as excinfo:
        services.payment_refund(
            payment_id=paid.id, amount=Decimal("7.51"), reason="x", by_id=staff.id
        )
    assert excinfo.value.status == 409
    assert "7.50" in excinfo.value.message
    services.payment_refund(payment_id=paid.id, amount=Decimal("7.50"), reason="x", by_id=staff.id)
    with pytest.raises(RefundExceedsPayment):
        services.payment_refund(payment_id=paid.id, amount=None, reason="x", by_id=staff.id)


def test_refund_input_is_checked(paid: Payment, staff: Any) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        services.payment_refund(payment_id=paid.id, amount=Decimal("0"), reason="x", by_id=staff.id)
    assert excinfo.value.field == "amount"
    with pytest.raises(InvalidRequest) as excinfo:
        services.payment_refund(payment_id=paid.id, amount=Decimal("1"), reason=" ", by_id=staff.id)
    assert excinfo.value.field == "reason"


def test_a_failed_payment_cannot_be_refunded(rider: Any, issue: Issue, staff: Any) -> None:
    failed = services.invoice_collect_payment(invoice_id=issue(rider).id)
    with pytest.raises(Conflict):
        services.payment_refund(payment_id=failed.id, amount=None, reason="x", by_id=staff.id)


def test_void_only_before_payment(rider: Any, issue: Issue, paid: Payment) -> None:
    invoice = issue(rider)
    assert services.invoice_void(invoice_id=invoice.id).status == Invoice.Status.VOID
    with pytest.raises(IllegalTransition):
        services.invoice_collect_payment(invoice_id=invoice.id)
    with pytest.raises(IllegalTransition) as excinfo:
        services.invoice_void(invoice_id=paid.invoice_id)
    assert "is paid" in excinfo.value.message


def test_payment_method_keeps_only_display_details(rider: Any) -> None:
    method = services.payment_method_set(rider_id=rider.id, card_token=" tok_mastercard ")
    assert (method.card_token, method.brand, method.last4) == (
        "tok_mastercard",
        "mastercard",
        "4444",
    )
    replaced = services.payment_method_set(rider_id=rider.id, card_token="tok_visa")
    assert replaced.id == method.id
    assert replaced.last4 == "4242"
    with pytest.raises(InvalidRequest) as excinfo:
        services.payment_method_set(rider_id=rider.id, card_token="4242424242424242")
    assert excinfo.value.field == "card_token"
