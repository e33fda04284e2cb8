"""Writes of the billing module: tariffs, invoices, payment collection, refunds, credit."""

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Max, Q
from django.utils import timezone

from modules.billing import selectors
from modules.billing.errors import (
    CardDeclined,
    CreditPurchaseNotFound,
    InvoiceNotFound,
    NoPaymentMethod,
    NoTariffInForce,
    PaymentGatewayUnavailable,
    PaymentNotFound,
    RefundExceedsPayment,
    TariffNotFound,
)
from modules.billing.events import (
    InvoiceIssued,
    InvoicePaid,
    InvoicePaymentFailed,
    InvoiceVoided,
    PaymentRefunded,
)
from modules.billing.gateways import (
    ChargeResult,
    GatewayUnavailable,
    IdempotencyKeyReused,
    payment_gateway,
)
from modules.billing.models import (
    CreditPurchase,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
    Payment,
    PaymentMethod,
    Refund,
    Tariff,
)
from modules.billing.pricing import QUANTITY_STEP, fare_for_trip
from modules.trips import api as trips_api
from modules.users import api as users_api
from monolith.platform.errors import Conflict, IllegalTransition, InvalidRequest
from monolith.platform.events import publish
from monolith.platform.money import money_amount_clean
from monolith.platform.registry import module_atomic

logger = logging.getLogger(__name__)

# Caps keep every invoice within its 12-digit columns: at these prices even the longest trip
# the invoice can record (pricing.MAX_DISTANCE_KM, MAX_DURATION_SECONDS) totals under 10**10.
TARIFF_PRICE_MAXIMUMS = {
    "base_fare": Decimal("1000.00"),
    "per_km": Decimal("100.00"),
    "per_minute": Decimal("100.00"),
    "minimum_fare": Decimal("1000.00"),
}
TARIFF_PRICE_FIELDS = tuple(TARIFF_PRICE_MAXIMUMS)
TARIFF_EDITABLE_FIELDS = frozenset({"name", *TARIFF_PRICE_FIELDS, "effective_from", "effective_to"})
INVOICE_COUNTER = "invoice"
CARD_TOKEN_PREFIX = "tok_"  # noqa: S105 (a token format, not a secret)

CREDIT_PURCHASE_MINIMUM = Decimal("5.00")
CREDIT_PURCHASE_MAXIMUM = Decimal("500.00")
IDEMPOTENCY_KEY_MAX_LENGTH = 100

COLLECTABLE = frozenset({Invoice.Status.ISSUED, Invoice.Status.PAYMENT_FAILED})
REFUNDABLE = frozenset({Invoice.Status.PAID, Invoice.Status.PARTIALLY_REFUNDED})
VOIDABLE = COLLECTABLE


# Tariffs ------------------------------------------------------------------------------------


def tariff_validate(
    *,
    name: str,
    base_fare: Decimal,
    per_km: Decimal,
    per_minute: Decimal,
    minimum_fare: Decimal,
    effective_from: datetime,
    effective_to: datetime | None,
    tariff_id: UUID | None = None,
) -> None:
    """Raise ``InvalidRequest`` naming the field if this tariff may not exist as given.

    Used by the services below and by the admin form, so both refuse the same things.
    """
    if not name.strip():
        raise InvalidRequest("A tariff needs a name.", field="name")
    prices = {
        "base_fare": base_fare,
        "per_km": per_km,
        "per_minute": per_minute,
        "minimum_fare": minimum_fare,
    }
    for field, price in prices.items():
        money_amount_clean(
            price, field=field, allow_zero=True, maximum=TARIFF_PRICE_MAXIMUMS[field]
        )
    if timezone.is_naive(effective_from):
        raise InvalidRequest("effective_from needs a time zone.", field="effective_from")
    if effective_to is not None:
        if timezone.is_naive(effective_to):
            raise InvalidRequest("effective_to needs a time zone.", field="effective_to")
        if effective_to <= effective_from:
            raise InvalidRequest(
                "effective_to must be later than effective_from.", field="effective_to"
            )
    clash = selectors.tariffs_overlapping(
        effective_from=effective_from, effective_to=effective_to, exclude_id=tariff_id
    ).first()
    if clash is not None:
        raise _overlap_error(clash)


def _overlap_error(clash: Tariff | None) -> InvalidRequest:
    if clash is None:
        return InvalidRequest(
            "The period overlaps another tariff's period.", field="effective_from"
        )
    until = clash.effective_to.isoformat() if clash.effective_to else "open-ended"
    return InvalidRequest(
        f"The period overlaps tariff {clash.name!r} "
        f"({clash.effective_from.isoformat()} to {until}); tariff periods may not overlap.",
        field="effective_from",
    )


def _tariff_save(tariff: Tariff, *, update_fields: list[str] | None = None) -> None:
    # The exclusion constraint catches an overlap created concurrently after the check.
    try:
        with module_atomic("billing"):
            tariff.save(update_fields=update_fields)
    except IntegrityError as exc:
        if "billing_tariff_periods_do_not_overlap" in str(exc):
            raise _overlap_error(None) from exc
        raise


@module_atomic("billing")
def tariff_create(
    *,
    name: str,
    base_fare: Decimal,
    per_km: Decimal,
    per_minute: Decimal,
    minimum_fare: Decimal,
    effective_from: datetime,
    effective_to: datetime | None = None,
) -> Tariff:
    tariff_validate(
        name=name,
        base_fare=base_fare,
        per_km=per_km,
        per_minute=per_minute,
        minimum_fare=minimum_fare,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    tariff = Tariff(
        name=name.strip(),
        currency=settings.FLEET_CURRENCY,
        base_fare=base_fare,
        per_km=per_km,
        per_minute=per_minute,
        minimum_fare=minimum_fare,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    _tariff_save(tariff)
    return tariff


def tariff_update_validate(*, tariff: Tariff, data: Mapping[str, Any]) -> list[str]:
    """The fields ``data`` would change on ``tariff``, or the error that forbids the change.

    A tariff that has priced invoices keeps its prices and start, so every invoice still
    names the prices it was computed with: it can only be renamed or closed (``effective_to``
    set, but not before the last trip it priced).
    """
    unknown = set(data) - TARIFF_EDITABLE_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidRequest(f"{field} cannot be changed.", field=field)
    changed = [field for field, value in data.items() if getattr(tariff, field) != value]
    if not changed:
        return changed

    last_priced = tariff.invoices.aggregate(last=Max("trip_completed_at"))["last"]
    if last_priced is not None:
        frozen = sorted(set(changed) & {*TARIFF_PRICE_FIELDS, "effective_from"})
        if frozen:
            raise Conflict(
                f"Tariff {tariff.name!r} has already priced invoices, so {frozen[0]} cannot "
                "change; close it with effective_to and create a new tariff instead.",
                field=frozen[0],
            )
        new_end = data.get("effective_to", tariff.effective_to)
        if new_end is not None and new_end <= last_priced:
            raise Conflict(
                f"Tariff {tariff.name!r} priced a trip completed at {last_priced.isoformat()}; "
                "effective_to must be later than that.",
                field="effective_to",
            )

    merged = {field: data.get(field, getattr(tariff, field)) for field in TARIFF_EDITABLE_FIELDS}
    tariff_validate(**merged, tariff_id=tariff.id)
    return changed


@module_atomic("billing")
def tariff_update(*, tariff_id: UUID, data: Mapping[str, Any]) -> Tariff:
    """Change the fields of a tariff named in ``data`` (see ``tariff_update_validate``)."""
    tariff = Tariff.objects.select_for_update().filter(id=tariff_id).first()
    if tariff is None:
        raise TariffNotFound(f"There is no tariff {tariff_id}.")
    changed = tariff_update_validate(tariff=tariff, data=data)
    if not changed:
        return tariff
    for field in changed:
        value = data[field]
        setattr(tariff, field, value.strip() if field == "name" else value)
    _tariff_save(tariff, update_fields=[*changed, "updated_at"])
    return tariff


# Invoices -----------------------------------------------------------------------------------


def _invoice_counter_locked() -> InvoiceNumberCounter:
    counter = InvoiceNumberCounter.objects.select_for_update().filter(name=INVOICE_COUNTER).first()
    if counter is None:
        InvoiceNumberCounter.objects.bulk_create(
            [InvoiceNumberCounter(name=INVOICE_COUNTER, last_value=0)], ignore_conflicts=True
        )
        counter = InvoiceNumberCounter.objects.select_for_update().get(name=INVOICE_COUNTER)
    return counter


@module_atomic("billing")
def invoice_issue_for_trip(
    *,
    trip_id: UUID,
    rider_id: UUID,
    distance_km: Decimal,
    duration_seconds: int,
    completed_at: datetime,
) -> Invoice:
    """Price a completed trip with the tariff in force at ``completed_at`` and invoice it.

    Idempotent per trip: when the trip already has an invoice, that invoice is returned.
    """
    existing = Invoice.objects.filter(trip_id=trip_id).first()
    if existing is not None:
        return existing
    if timezone.is_naive(completed_at):
        raise InvalidRequest("completed_at needs a time zone.", field="completed_at")

    # The counter lock serialises issuance, so after it the trip is checked again: a
    # concurrent delivery of the same event has committed its invoice by then.
    counter = _invoice_counter_locked()
    existing = Invoice.objects.filter(trip_id=trip_id).first()
    if existing is not None:
        return existing

    # Locked so a concurrent tariff change cannot shift its period under this invoice.
    tariff = (
        Tariff.objects.select_for_update()
        .filter(effective_from__lte=completed_at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=completed_at))
        .first()
    )
    if tariff is None:
        raise NoTariffInForce(
            f"No tariff is in force at {completed_at.isoformat()}, when trip {trip_id} "
            "completed; fleet staff must create one covering that time."
        )
    fare = fare_for_trip(tariff=tariff, distance_km=distance_km, duration_seconds=duration_seconds)

    counter.last_value += 1
    counter.save(update_fields=["last_value"])
    invoice = Invoice.objects.create(
        number=f"INV-{counter.last_value:06d}",
        trip_id=trip_id,
        rider_id=rider_id,
        tariff=tariff,
        currency=fare.currency,
        subtotal=fare.subtotal,
        total=fare.total,
        status=Invoice.Status.ISSUED,
        trip_distance_km=Decimal(distance_km).quantize(QUANTITY_STEP),
        trip_duration_seconds=duration_seconds,
        trip_completed_at=completed_at,
        issued_at=timezone.now(),
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=position,
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for position, line in enumerate(fare.lines, start=1)
    )
    publish(
        InvoiceIssued(
            invoice_id=invoice.id,
            number=invoice.number,
            trip_id=invoice.trip_id,
            rider_id=invoice.rider_id,
            total=invoice.total,
            currency=invoice.currency,
            issued_at=invoice.issued_at,
        )
    )
    return invoice


def _invoice_locked(invoice_id: UUID) -> Invoice:
    invoice = Invoice.objects.select_for_update().filter(id=invoice_id).first()
    if invoice is None:
        raise InvoiceNotFound(f"There is no invoice {invoice_id}.")
    return invoice


def _payment_idempotency_key(invoice: Invoice, attempt: int) -> str:
    return f"invoice-{invoice.id}-attempt-{attempt}"


def _card_charge(
    *,
    amount: Decimal,
    currency: str,
    card_token: str,
    idempotency_key: str,
    description: str,
    subject: str,
    conflict_field: str | None = None,
) -> ChargeResult:
    """Charge through the gateway, its failures as domain errors; ``subject`` names the charge."""
    try:
        return payment_gateway().charge(
            amount=amount,
            currency=currency,
            card_token=card_token,
            idempotency_key=idempotency_key,
            description=description,
        )
    except GatewayUnavailable as exc:
        raise PaymentGatewayUnavailable(
            f"The payment provider is unavailable ({exc}); nothing was charged for {subject}. "
            "Try again later."
        ) from exc
    except IdempotencyKeyReused as exc:
        raise Conflict(
            f"The payment provider already holds a charge for {subject} with different details "
            "(was the card changed?); reconcile it with the provider before retrying.",
            field=conflict_field,
        ) from exc


@module_atomic("billing")
def invoice_collect_payment(*, invoice_id: UUID, first_attempt: bool = False) -> Payment:
    """Charge the rider's card what an issued (or previously failed) invoice still owes.

    What it owes is the total less what was collected already (credit taken from the
    rider's wallet after an earlier failure). Every call is a new attempt, numbered from the
    payments recorded so far, and the attempt number is in the gateway's idempotency key: a
    retry after a recorded failure charges again, while an attempt whose outcome was lost
    (the process died after charging) is repeated with the same key and is not charged
    twice. The invoice row stays locked for the attempt, so two concurrent attempts cannot
    both charge. With ``first_attempt`` (billing's own step after issuing) only an invoice
    never attempted yet is charged; later attempts are the rider's or staff's decision.
    """
    invoice = _invoice_locked(invoice_id)
    if invoice.status not in COLLECTABLE:
        raise IllegalTransition(
            f"Invoice {invoice.number} is {invoice.status}; only an issued or payment_failed "
            "invoice can become paid."
        )
    if first_attempt and invoice.status != Invoice.Status.ISSUED:
        raise IllegalTransition(
            f"Invoice {invoice.number} is {invoice.status}; its first collection attempt "
            "was made already."
        )
    attempt = invoice.payments.count() + 1
    # Less than the total once the rider's wallet paid part of it.
    owed = _invoice_owed(invoice)
    payment = Payment(
        invoice=invoice,
        attempt=attempt,
        source=Payment.Source.CARD,
        amount=owed,
        currency=invoice.currency,
        idempotency_key=_payment_idempotency_key(invoice, attempt),
    )
    method = PaymentMethod.objects.filter(rider_id=invoice.rider_id).first()
    if owed == 0:
        # Nothing to charge; recorded so the invoice still shows how it was settled.
        payment.status = Payment.Status.SUCCEEDED
    elif method is None:
        payment.status = Payment.Status.FAILED
        payment.failure_code = "no_payment_method"
        payment.failure_message = "The rider has no payment method on file."
    else:
        result = _card_charge(
            amount=owed,
            currency=invoice.currency,
            card_token=method.card_token,
            idempotency_key=payment.idempotency_key,
            description=f"Invoice {invoice.number}",
            subject=f"attempt {attempt} on invoice {invoice.number}",
        )
        payment.gateway_charge_id = result.charge_id
        if result.succeeded:
            payment.status = Payment.Status.SUCCEEDED
        else:
            payment.status = Payment.Status.FAILED
            payment.failure_code = result.failure_code
            payment.failure_message = result.failure_message[:255]
    payment.save()

    if payment.status == Payment.Status.SUCCEEDED:
        _invoice_mark_paid(invoice, payment)
        return payment
    invoice.status = Invoice.Status.PAYMENT_FAILED
    invoice.save(update_fields=["status", "updated_at"])
    publish(
        InvoicePaymentFailed(
            invoice_id=invoice.id,
            trip_id=invoice.trip_id,
            rider_id=invoice.rider_id,
            payment_id=payment.id,
            attempt=payment.attempt,
            failure_code=payment.failure_code,
            failed_at=payment.created_at,
        )
    )
    return payment


def _invoice_owed(invoice: Invoice) -> Decimal:
    """What a collectable invoice still owes: its total less what its payments collected."""
    return max(invoice.total - selectors.invoice_collected_amount(invoice=invoice), Decimal(0))


def _invoice_mark_paid(invoice: Invoice, payment: Payment) -> None:
    """``payment`` completed the (locked) invoice: it is paid; publishes ``InvoicePaid``."""
    invoice.status = Invoice.Status.PAID
    invoice.save(update_fields=["status", "updated_at"])
    publish(
        InvoicePaid(
            invoice_id=invoice.id,
            trip_id=invoice.trip_id,
            rider_id=invoice.rider_id,
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            paid_at=payment.created_at,
        )
    )


@module_atomic("billing")
def invoice_void(*, invoice_id: UUID, reason: str = "The invoice was voided.") -> Invoice:
    """Cancel an invoice that is not paid; paid invoices are refunded instead.

    Credit already taken from the rider's wallet towards it (a part payment after a failed
    card attempt) goes back to the wallet. Publishes ``InvoiceVoided``: the rider owes
    nothing on it, so billing releases the trip's booking hold.
    """
    invoice = _invoice_locked(invoice_id)
    if invoice.status not in VOIDABLE:
        raise IllegalTransition(
            f"Invoice {invoice.number} is {invoice.status}; only an issued or payment_failed "
            "invoice can become void."
        )
    _invoice_refund_everything(invoice, reason=reason)
    invoice.status = Invoice.Status.VOID
    invoice.save(update_fields=["status", "updated_at"])
    publish(
        InvoiceVoided(
            invoice_id=invoice.id,
            trip_id=invoice.trip_id,
            rider_id=invoice.rider_id,
            voided_at=invoice.updated_at,
        )
    )
    return invoice


@module_atomic("billing")
def invoice_withdraw_for_trip(*, trip_id: UUID, reason: str) -> Invoice | None:
    """The rider owes nothing for this trip: void its invoice, or refund what it collected.

    For a trip that was interrupted; normally it has no invoice (only completed trips are
    invoiced) and nothing happens. Returns the invoice, if there is one.
    """
    found = Invoice.objects.filter(trip_id=trip_id).values_list("id", flat=True).first()
    if found is None:
        return None
    invoice = _invoice_locked(found)
    if invoice.status in VOIDABLE:
        return invoice_void(invoice_id=invoice.id, reason=reason)
    if invoice.status in REFUNDABLE:
        _invoice_refund_everything(invoice, reason=reason)
    return invoice


def _invoice_refund_everything(invoice: Invoice, *, reason: str) -> None:
    """Give back all that is left on each succeeded payment of the (locked) invoice."""
    payments = invoice.payments.select_for_update().filter(status=Payment.Status.SUCCEEDED)
    for payment in payments.order_by("attempt"):
        left = payment.amount - selectors.payment_refunded_amount(payment=payment)
        if left > 0:
            _refund_record(invoice=invoice, payment=payment, amount=left, reason=reason, by_id=None)


# The trip's booking hold ---------------------------------------------------------------------


def _booking_hold(*, rider_id: UUID, trip_id: UUID) -> users_api.CreditHoldSummary | None:
    return users_api.credit_hold_find(
        rider_id=rider_id, reference=trips_api.booking_credit_reference(trip_id=trip_id)
    )


def _wallet_payment_key(hold_id: UUID) -> str:
    return f"credit-hold-{hold_id}"


def booking_hold_release(
    *, rider_id: UUID, trip_id: UUID, why: str
) -> users_api.CreditHoldSummary | None:
    """Give the credit the trip's booking held back to the rider, if it is still held.

    For a trip the rider owes nothing more on (``why`` says why, for the log): its invoice
    was paid by card or voided, or the trip was interrupted. A hold already released stays
    so; a captured one paid the invoice and stays captured. Returns the hold, or ``None``
    when the booking placed none (trips booked before holds existed).
    """
    hold = _booking_hold(rider_id=rider_id, trip_id=trip_id)
    extra = {"trip": str(trip_id), "rider": str(rider_id)}
    if hold is None:
        logger.info("trip %s has no booking hold to release (%s)", trip_id, why, extra=extra)
        return None
    if hold.status != "held":
        logger.info(
            "the booking hold of trip %s is already %s (%s)", trip_id, hold.status, why, extra=extra
        )
        return hold
    released = users_api.credit_release(hold_id=hold.id)
    logger.info(
        "released the booking hold of trip %s, %s (%s)", trip_id, released.amount, why, extra=extra
    )
    return released


@module_atomic("billing")
def invoice_collect_from_wallet(*, invoice_id: UUID) -> Payment | None:
    """Take what the invoice still owes from the credit the trip's booking holds.

    After a card attempt failed: up to the hold is captured (the rest of the hold goes back
    to the rider's available credit) and recorded as a wallet payment; when that covers the
    invoice it is paid (``InvoicePaid``), otherwise it stays payment_failed owing the rest.
    Returns that payment, or ``None`` when there is nothing to take: no hold (trips booked
    before holds existed), the hold already released, or the invoice no longer collectable
    (its hold is released then).

    Safe to repeat, also when users and billing keep separate databases: the payment's
    idempotency key names the hold, so one hold is recorded once; a hold captured by an
    earlier run whose own transaction was then lost is recorded with what was captured,
    never captured again, and whatever exceeds what the invoice owes by now goes back to
    the wallet.
    """
    invoice = _invoice_locked(invoice_id)
    hold = _booking_hold(rider_id=invoice.rider_id, trip_id=invoice.trip_id)
    extra = {"invoice": str(invoice.id), "trip": str(invoice.trip_id)}
    if hold is None:
        logger.info(
            "invoice %s: the trip has no booking hold to take credit from",
            invoice.number,
            extra=extra,
        )
        return None
    recorded = invoice.payments.filter(idempotency_key=_wallet_payment_key(hold.id)).first()
    if recorded is not None:
        return recorded
    collectable = invoice.status in COLLECTABLE
    owed = _invoice_owed(invoice) if collectable else Decimal(0)
    if hold.status == "held":
        if owed == 0:
            logger.info(
                "invoice %s is %s: nothing to take, the booking hold is released",
                invoice.number,
                invoice.status,
                extra=extra,
            )
            users_api.credit_release(hold_id=hold.id)
            return None
        hold = users_api.credit_capture(hold_id=hold.id, amount=min(owed, hold.amount.amount))
    captured = hold.captured
    if hold.status != "captured" or captured is None:
        logger.info(
            "invoice %s: the booking hold is %s, nothing to take",
            invoice.number,
            hold.status,
            extra=extra,
        )
        return None
    payment = Payment.objects.create(
        invoice=invoice,
        attempt=invoice.payments.count() + 1,
        source=Payment.Source.WALLET,
        amount=captured.amount,
        currency=invoice.currency,
        status=Payment.Status.SUCCEEDED,
        idempotency_key=_wallet_payment_key(hold.id),
    )
    if collectable and payment.amount >= owed:
        _invoice_mark_paid(invoice, payment)
    excess = payment.amount - owed
    if excess > 0:
        # Captured by a run whose record was lost, after which the invoice was settled
        # another way: the rider gets the difference back.
        _refund_record(
            invoice=invoice,
            payment=payment,
            amount=excess,
            reason="Taken from the wallet after the invoice was settled another way.",
            by_id=None,
        )
    return payment


# Payment methods and refunds ----------------------------------------------------------------


def payment_method_validate(*, card_token: str) -> str:
    """The token as stored, or ``InvalidRequest`` naming ``card_token``."""
    token = card_token.strip()
    if not token:
        raise InvalidRequest("card_token must not be blank.", field="card_token")
    if not token.startswith(CARD_TOKEN_PREFIX):
        raise InvalidRequest(
            f"card_token must be a payment provider token starting with {CARD_TOKEN_PREFIX!r}, "
            "never a card number.",
            field="card_token",
        )
    return token


@module_atomic("billing")
def payment_method_set(*, rider_id: UUID, card_token: str) -> PaymentMethod:
    """Put the rider's card on file, replacing any earlier one."""
    token = payment_method_validate(card_token=card_token)
    card = payment_gateway().card_details(card_token=token)
    method, _ = PaymentMethod.objects.update_or_create(
        rider_id=rider_id,
        defaults={"card_token": token, "brand": card.brand, "last4": card.last4},
    )
    return method


@module_atomic("billing")
def payment_refund(
    *,
    payment_id: UUID,
    amount: Decimal | None,
    reason: str,
    by_id: UUID | None,
) -> Refund:
    """Give back ``amount`` of a succeeded payment (everything left when ``None``).

    ``by_id`` is the account of the staff member giving it back, kept with the refund.

    Never more than is left to refund (``RefundExceedsPayment``, 409). A card payment is
    refunded through the gateway, a wallet payment credited back to the rider's wallet. The
    invoice becomes refunded once nothing collected on it is left, partially_refunded before.
    """
    found = Payment.objects.filter(id=payment_id).values_list("invoice_id", flat=True).first()
    if found is None:
        raise PaymentNotFound(f"There is no payment {payment_id}.")
    # Invoice first, then payment: the same order as collection, so the two cannot deadlock.
    invoice = _invoice_locked(found)
    payment = Payment.objects.select_for_update().get(id=payment_id)
    if not reason.strip():
        raise InvalidRequest("Say why the money is given back.", field="reason")
    if payment.status != Payment.Status.SUCCEEDED:
        raise Conflict(f"Payment {payment.id} failed; there is nothing to refund.")
    left = payment.amount - selectors.payment_refunded_amount(payment=payment)
    if left <= 0:
        raise RefundExceedsPayment(f"Nothing is left to refund on payment {payment.id}.")
    if invoice.status not in REFUNDABLE:
        raise IllegalTransition(
            f"Invoice {invoice.number} is {invoice.status}; only a paid or partially_refunded "
            "invoice can be refunded."
        )
    amount = left if amount is None else money_amount_clean(amount, field="amount")
    if amount > left:
        raise RefundExceedsPayment(
            f"A refund of {amount} {payment.currency} is more than the {left} "
            f"{payment.currency} left to refund on payment {payment.id}.",
            field="amount",
        )

    return _refund_record(
        invoice=invoice, payment=payment, amount=amount, reason=reason.strip(), by_id=by_id
    )


def _refund_record(
    *, invoice: Invoice, payment: Payment, amount: Decimal, reason: str, by_id: UUID | None
) -> Refund:
    """Give ``amount`` of a succeeded payment back the way it came, and record it.

    A card payment is refunded through the gateway, a wallet payment credited back to the
    rider's wallet; both under the refund's idempotency key. The caller holds the invoice's
    and the payment's locks and has checked the amount. A paid invoice becomes refunded once
    nothing collected on it is left, partially refunded before that.
    """
    attempt = payment.refunds.count() + 1
    idempotency_key = f"payment-{payment.id}-refund-{attempt}"
    gateway_refund_id = ""
    if payment.source == Payment.Source.WALLET:
        # Idempotent per reference: a refund whose record was lost credits the wallet once.
        users_api.credit_top_up(rider_id=invoice.rider_id, amount=amount, reference=idempotency_key)
    else:
        gateway_refund_id = _card_refund(
            payment=payment, amount=amount, idempotency_key=idempotency_key, attempt=attempt
        )
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        reason=reason,
        status=Refund.Status.SUCCEEDED,
        gateway_refund_id=gateway_refund_id,
        idempotency_key=idempotency_key,
        created_by_id=by_id,
    )
    if invoice.status in REFUNDABLE:
        kept = selectors.invoice_collected_amount(invoice=invoice) - (
            selectors.invoice_refunded_amount(invoice=invoice)
        )
        if kept <= 0:
            invoice.status = Invoice.Status.REFUNDED
        elif kept < invoice.total:
            invoice.status = Invoice.Status.PARTIALLY_REFUNDED
        invoice.save(update_fields=["status", "updated_at"])
    publish(
        PaymentRefunded(
            refund_id=refund.id,
            payment_id=payment.id,
            invoice_id=invoice.id,
            rider_id=invoice.rider_id,
            amount=refund.amount,
            currency=payment.currency,
            refunded_at=refund.created_at,
        )
    )
    return refund


def _card_refund(*, payment: Payment, amount: Decimal, idempotency_key: str, attempt: int) -> str:
    """Refund through the gateway; the provider's refund id, or the failure as a domain error."""
    try:
        result = payment_gateway().refund(
            charge_id=payment.gateway_charge_id, amount=amount, idempotency_key=idempotency_key
        )
    except GatewayUnavailable as exc:
        raise PaymentGatewayUnavailable(
            f"The payment provider is unavailable ({exc}); nothing was refunded. Try again later."
        ) from exc
    except IdempotencyKeyReused as exc:
        raise Conflict(
            f"Refund {attempt} on payment {payment.id} was sent to the payment provider earlier "
            "with a different amount; reconcile it with the provider before retrying."
        ) from exc
    if not result.succeeded:
        raise Conflict(
            f"The payment provider refused the refund: {result.failure_message} "
            f"({result.failure_code})."
        )
    return result.refund_id


# Credit purchases ---------------------------------------------------------------------------


def credit_purchase_validate(*, amount: object, idempotency_key: str) -> tuple[Decimal, str]:
    """The amount and key as stored, or ``InvalidRequest`` naming the field."""
    value = money_amount_clean(amount, field="amount", maximum=CREDIT_PURCHASE_MAXIMUM)
    if value < CREDIT_PURCHASE_MINIMUM:
        raise InvalidRequest(f"amount must be at least {CREDIT_PURCHASE_MINIMUM}.", field="amount")
    key = idempotency_key.strip()
    if not key:
        raise InvalidRequest("idempotency_key must not be blank.", field="idempotency_key")
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidRequest(
            f"idempotency_key must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            field="idempotency_key",
        )
    return value, key


def credit_purchase_create(
    *, rider_id: UUID, amount: Decimal, idempotency_key: str
) -> tuple[CreditPurchase, bool]:
    """Charge the rider's card on file for ``amount`` and add it to their wallet.

    Returns the purchase and whether this call made it. Idempotent per rider and
    ``idempotency_key``: a repeat returns the first purchase and charges nothing more, and
    finishes crediting a purchase that was charged but not yet credited. Raises
    ``InvalidRequest``, ``RiderNotFound``, ``NoPaymentMethod`` (409), ``CardDeclined`` (402,
    the purchase recorded as failed), ``PaymentGatewayUnavailable`` (503, nothing charged or
    recorded) and ``Conflict`` when the key was used for another amount.

    Deliberately not one transaction: the charge is committed with its purchase before the
    wallet is credited, so no failure in between can leave a charge without its record.
    """
    amount, key = credit_purchase_validate(amount=amount, idempotency_key=idempotency_key)
    # Only riders have wallets; a charge for anyone else could never be credited.
    users_api.rider_get(rider_id=rider_id)
    purchase, created = _credit_purchase_charge(
        rider_id=rider_id, amount=amount, idempotency_key=key
    )
    if purchase.status == CreditPurchase.Status.CHARGED:
        purchase = credit_purchase_settle(purchase_id=purchase.id)
    if purchase.status == CreditPurchase.Status.FAILED:
        raise CardDeclined(
            f"The card was declined: {purchase.failure_message} ({purchase.failure_code}). "
            f"Nothing was charged; credit purchase {purchase.id} is recorded as failed.",
            code=purchase.failure_code,
        )
    return purchase, created


def _credit_purchase_earlier(
    *, rider_id: UUID, idempotency_key: str, amount: Decimal
) -> CreditPurchase | None:
    earlier = CreditPurchase.objects.filter(
        rider_id=rider_id, idempotency_key=idempotency_key
    ).first()
    if earlier is not None and earlier.amount != amount:
        raise Conflict(
            f"idempotency_key {idempotency_key!r} was already used to buy {earlier.amount} "
            f"{earlier.currency} of credit; use a new key for a new purchase.",
            field="idempotency_key",
        )
    return earlier


@module_atomic("billing")
def _credit_purchase_charge(
    *, rider_id: UUID, amount: Decimal, idempotency_key: str
) -> tuple[CreditPurchase, bool]:
    earlier = _credit_purchase_earlier(
        rider_id=rider_id, idempotency_key=idempotency_key, amount=amount
    )
    if earlier is not None:
        return earlier, False
    method = PaymentMethod.objects.filter(rider_id=rider_id).first()
    if method is None:
        raise NoPaymentMethod(
            "No card is on file to charge; set one with PUT /api/v1/billing/me/payment-method/ "
            "before buying credit.",
            field="card_token",
        )
    # The gateway key depends only on the rider and the client's key, so a request repeated
    # after a crash that lost this transaction replays the provider's charge, never a new one.
    result = _card_charge(
        amount=amount,
        currency=settings.FLEET_CURRENCY,
        card_token=method.card_token,
        idempotency_key=f"credit-purchase-{rider_id}-{idempotency_key}",
        description="Wallet credit",
        subject=f"credit purchase {idempotency_key!r}",
        conflict_field="idempotency_key",
    )
    purchase = CreditPurchase(
        rider_id=rider_id,
        amount=amount,
        currency=settings.FLEET_CURRENCY,
        status=(
            CreditPurchase.Status.CHARGED if result.succeeded else CreditPurchase.Status.FAILED
        ),
        gateway_charge_id=result.charge_id,
        failure_code=result.failure_code,
        failure_message=result.failure_message[:255],
        idempotency_key=idempotency_key,
    )
    try:
        with module_atomic("billing"):
            purchase.save(force_insert=True)
    except IntegrityError:
        # A concurrent request with the same key recorded the same charge first.
        earlier = _credit_purchase_earlier(
            rider_id=rider_id, idempotency_key=idempotency_key, amount=amount
        )
        if earlier is None:
            raise
        return earlier, False
    return purchase, True


def credit_purchase_settle(*, purchase_id: UUID) -> CreditPurchase:
    """Credit the wallet for a charged purchase; any other purchase is returned unchanged.

    The wallet is credited outside a transaction (it may live in another service) under a
    reference naming the purchase; top-ups are idempotent per reference, so however often
    this runs, concurrently or after a crash, the wallet gets the amount once.
    """
    purchase = selectors.credit_purchase_get(purchase_id=purchase_id)
    if purchase.status != CreditPurchase.Status.CHARGED:
        return purchase
    users_api.credit_top_up(
        rider_id=purchase.rider_id,
        amount=purchase.amount,
        reference=f"credit-purchase-{purchase.id}",
    )
    return _credit_purchase_mark_credited(purchase_id=purchase.id)


@module_atomic("billing")
def _credit_purchase_mark_credited(*, purchase_id: UUID) -> CreditPurchase:
    purchase = CreditPurchase.objects.select_for_update().filter(id=purchase_id).first()
    if purchase is None:
        raise CreditPurchaseNotFound(f"There is no credit purchase {purchase_id}.")
    if purchase.status == CreditPurchase.Status.CHARGED:
        purchase.status = CreditPurchase.Status.SUCCEEDED
        purchase.credited_at = timezone.now()
        purchase.save(update_fields=["status", "credited_at", "updated_at"])
    return purchase
