"""Front door of the billing module.

Functions take and return small frozen dataclasses, never model instances or querysets.
Invoices are issued by billing itself when trips publishes ``TripCompleted``; other modules
read them here, and may quote a fare before a trip with ``fare_quote``.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from modules.billing.errors import (
    CardDeclined,
    CreditPurchaseNotFound,
    InvoiceNotFound,
    NoPaymentMethod,
    NoTariffInForce,
    PaymentGatewayUnavailable,
    PaymentMethodNotFound,
    PaymentNotFound,
    RefundExceedsPayment,
    TariffNotFound,
)
from monolith.platform.interservice import api_read
from monolith.platform.money import Money

if TYPE_CHECKING:
    from modules.billing.models import Invoice, Tariff

__all__ = [
    "CardDeclined",
    "CreditPurchaseNotFound",
    "FareQuote",
    "InvoiceNotFound",
    "InvoiceSummary",
    "NoPaymentMethod",
    "NoTariffInForce",
    "PaymentGatewayUnavailable",
    "PaymentMethodNotFound",
    "PaymentNotFound",
    "RefundExceedsPayment",
    "TariffNotFound",
    "TariffSummary",
    "fare_quote",
    "invoice_for_trip",
    "invoice_get",
    "payment_method_set",
    "tariff_create",
    "tariff_in_force",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceSummary:
    id: UUID
    number: str
    trip_id: UUID
    rider_id: UUID
    status: str  # issued, paid, payment_failed, refunded, partially_refunded, void
    total: Money
    issued_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TariffSummary:
    id: UUID
    name: str
    base_fare: Money
    per_km: Money
    per_minute: Money
    minimum_fare: Money
    effective_from: datetime
    effective_to: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FareQuote:
    tariff_id: UUID
    subtotal: Money
    total: Money


def _invoice_summary(invoice: "Invoice") -> InvoiceSummary:
    return InvoiceSummary(
        id=invoice.id,
        number=invoice.number,
        trip_id=invoice.trip_id,
        rider_id=invoice.rider_id,
        status=invoice.status,
        total=Money(invoice.total, invoice.currency),
        issued_at=invoice.issued_at,
    )


def _tariff_summary(tariff: "Tariff") -> TariffSummary:
    return TariffSummary(
        id=tariff.id,
        name=tariff.name,
        base_fare=Money(tariff.base_fare, tariff.currency),
        per_km=Money(tariff.per_km, tariff.currency),
        per_minute=Money(tariff.per_minute, tariff.currency),
        minimum_fare=Money(tariff.minimum_fare, tariff.currency),
        effective_from=tariff.effective_from,
        effective_to=tariff.effective_to,
    )


@api_read
def invoice_for_trip(*, trip_id: UUID) -> InvoiceSummary:
    """The invoice issued for a trip; raises ``InvoiceNotFound``."""
    from modules.billing import selectors

    return _invoice_summary(selectors.invoice_get_for_trip(trip_id=trip_id))


@api_read
def invoice_get(*, invoice_id: UUID) -> InvoiceSummary:
    """The invoice with this id; raises ``InvoiceNotFound``."""
    from modules.billing import selectors

    return _invoice_summary(selectors.invoice_get(invoice_id=invoice_id))


@api_read
def tariff_in_force(*, at: datetime) -> TariffSummary:
    """The tariff that prices trips completed at ``at``; raises ``NoTariffInForce``."""
    from modules.billing import selectors

    return _tariff_summary(selectors.tariff_in_force(at=at))


@api_read
def fare_quote(*, distance_km: Decimal, duration_seconds: int, at: datetime) -> FareQuote:
    """What a trip of this length would cost if completed at ``at``.

    Priced exactly as its invoice would be; raises ``NoTariffInForce``.
    """
    from modules.billing import selectors
    from modules.billing.pricing import fare_for_trip

    tariff = selectors.tariff_in_force(at=at)
    fare = fare_for_trip(tariff=tariff, distance_km=distance_km, duration_seconds=duration_seconds)
    return FareQuote(
        tariff_id=tariff.id,
        subtotal=Money(fare.subtotal, fare.currency),
        total=Money(fare.total, fare.currency),
    )


def tariff_create(
    *,
    name: str,
    base_fare: Decimal,
    per_km: Decimal,
    per_minute: Decimal,
    minimum_fare: Decimal,
    effective_from: datetime,
    effective_to: datetime | None = None,
) -> TariffSummary:
    """Add a tariff for a period; raises ``InvalidRequest`` when it overlaps another."""
    from modules.billing import services

    return _tariff_summary(
        services.tariff_create(
            name=name,
            base_fare=base_fare,
            per_km=per_km,
            per_minute=per_minute,
            minimum_fare=minimum_fare,
            effective_from=effective_from,
            effective_to=effective_to,
        )
    )


def payment_method_set(*, rider_id: UUID, card_token: str) -> None:
    """Put the rider's card (a gateway token such as ``tok_visa``) on file for invoices."""
    from modules.billing import services

    services.payment_method_set(rider_id=rider_id, card_token=card_token)
