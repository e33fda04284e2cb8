"""Reads of the billing module, shaped for its views, admin and api.py."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import DecimalField, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from modules.billing.errors import (
    CreditPurchaseNotFound,
    InvoiceNotFound,
    NoTariffInForce,
    PaymentMethodNotFound,
    PaymentNotFound,
    TariffNotFound,
)
from modules.billing.models import (
    CreditPurchase,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentMethod,
    Refund,
    Tariff,
)
from monolith.platform.access import is_fleet_staff


def tariff_list() -> QuerySet[Tariff]:
    return Tariff.objects.order_by("-effective_from")


def tariff_get(*, tariff_id: UUID) -> Tariff:
    tariff = Tariff.objects.filter(id=tariff_id).first()
    if tariff is None:
        raise TariffNotFound(f"There is no tariff {tariff_id}.")
    return tariff


def tariff_in_force(*, at: datetime) -> Tariff:
    """The tariff whose period contains ``at``; raises ``NoTariffInForce``."""
    tariff = (
        Tariff.objects.filter(effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .order_by("-effective_from")
        .first()
    )
    if tariff is None:
        raise NoTariffInForce(
            f"No tariff is in force at {at.isoformat()}; "
            "fleet staff must create one covering that time."
        )
    return tariff


def tariff_current(*, at: datetime) -> Tariff:
    """The tariff in force at ``at``, as a thing to look up: ``TariffNotFound`` if none."""
    try:
        return tariff_in_force(at=at)
    except NoTariffInForce as exc:
        raise TariffNotFound(exc.message) from exc


def tariffs_overlapping(
    *, effective_from: datetime, effective_to: datetime | None, exclude_id: UUID | None = None
) -> QuerySet[Tariff]:
    """Tariffs whose [from, to) period shares a moment with [effective_from, effective_to)."""
    overlapping = Tariff.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gt=effective_from)
    )
    if effective_to is not None:
        overlapping = overlapping.filter(effective_from__lt=effective_to)
    if exclude_id is not None:
        overlapping = overlapping.exclude(id=exclude_id)
    return overlapping.order_by("effective_from")


def _with_lines(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    return invoices.prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position"))
    )


def invoice_list(*, user: Any) -> QuerySet[Invoice]:
    """Invoices ``user`` may see, lines prefetched: all for staff, their own for a rider."""
    invoices = _with_lines(Invoice.objects.all())
    if not is_fleet_staff(user):
        invoices = invoices.filter(rider_id=user.pk)
    return invoices.order_by("-issued_at", "-number")


def invoice_get(*, invoice_id: UUID, user: Any | None = None) -> Invoice:
    """The invoice, if ``user`` (when given) may see it; else ``InvoiceNotFound``."""
    invoices = _with_lines(Invoice.objects.all())
    if user is not None and not is_fleet_staff(user):
        invoices = invoices.filter(rider_id=user.pk)
    invoice = invoices.filter(id=invoice_id).first()
    if invoice is None:
        raise InvoiceNotFound(f"There is no invoice {invoice_id}.")
    return invoice


def invoice_get_for_trip(*, trip_id: UUID) -> Invoice:
    invoice = Invoice.objects.filter(trip_id=trip_id).first()
    if invoice is None:
        raise InvoiceNotFound(f"No invoice was issued for trip {trip_id}.")
    return invoice


def payment_list(*, user: Any) -> QuerySet[Payment]:
    """Payments ``user`` may see, with their invoice, refunds and the amount refunded."""
    refunded = Coalesce(
        Sum("refunds__amount", filter=Q(refunds__status=Refund.Status.SUCCEEDED)),
        Value(Decimal("0.00")),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )
    payments = (
        Payment.objects.select_related("invoice")
        .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("created_at")))
        .annotate(refunded_amount=refunded)
    )
    if not is_fleet_staff(user):
        payments = payments.filter(invoice__rider_id=user.pk)
    return payments.order_by("-created_at", "-attempt")


def payment_get(*, payment_id: UUID) -> Payment:
    payment = Payment.objects.select_related("invoice").filter(id=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"There is no payment {payment_id}.")
    return payment


def payment_refunded_amount(*, payment: Payment) -> Decimal:
    """What has been given back on ``payment`` so far."""
    total = payment.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(total=Sum("amount"))[
        "total"
    ]
    return total if total is not None else Decimal("0.00")


def invoice_collected_amount(*, invoice: Invoice) -> Decimal:
    """What the invoice's succeeded payments (card and wallet) collected, refunds not counted."""
    total = invoice.payments.filter(status=Payment.Status.SUCCEEDED).aggregate(total=Sum("amount"))[
        "total"
    ]
    return total if total is not None else Decimal("0.00")


def invoice_refunded_amount(*, invoice: Invoice) -> Decimal:
    """What has been given back on the invoice's payments so far."""
    total = Refund.objects.filter(
        payment__invoice=invoice, status=Refund.Status.SUCCEEDED
    ).aggregate(total=Sum("amount"))["total"]
    return total if total is not None else Decimal("0.00")


def payment_method_get(*, rider_id: UUID) -> PaymentMethod:
    method = PaymentMethod.objects.filter(rider_id=rider_id).first()
    if method is None:
        raise PaymentMethodNotFound("No payment method is on file; add one first.")
    return method


def credit_purchase_list(*, rider_id: UUID) -> QuerySet[CreditPurchase]:
    """The rider's own credit purchases, newest first."""
    return CreditPurchase.objects.filter(rider_id=rider_id).order_by("-created_at", "-id")


def credit_purchase_get(*, purchase_id: UUID) -> CreditPurchase:
    purchase = CreditPurchase.objects.filter(id=purchase_id).first()
    if purchase is None:
        raise CreditPurchaseNotFound(f"There is no credit purchase {purchase_id}.")
    return purchase
