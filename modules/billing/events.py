"""Events the billing module publishes."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(DomainEvent):
    """A completed trip was priced and invoiced to its rider."""

    name: ClassVar[str] = "billing.InvoiceIssued"
    version: ClassVar[int] = 1

    invoice_id: UUID
    number: str
    trip_id: UUID
    rider_id: UUID
    total: Decimal
    currency: str
    issued_at: datetime


@dataclass(frozen=True, kw_only=True)
class InvoicePaid(DomainEvent):
    """The invoice is paid in full; ``payment_id`` and ``amount`` are the payment that
    completed it (by card, or from the rider's wallet after a failed card attempt)."""

    name: ClassVar[str] = "billing.InvoicePaid"
    version: ClassVar[int] = 1

    invoice_id: UUID
    trip_id: UUID
    rider_id: UUID
    payment_id: UUID
    amount: Decimal
    currency: str
    paid_at: datetime


@dataclass(frozen=True, kw_only=True)
class InvoicePaymentFailed(DomainEvent):
    """An attempt to collect the invoice failed; ``failure_code`` says why."""

    name: ClassVar[str] = "billing.InvoicePaymentFailed"
    version: ClassVar[int] = 1

    invoice_id: UUID
    trip_id: UUID
    rider_id: UUID
    payment_id: UUID
    attempt: int
    failure_code: str
    failed_at: datetime


@dataclass(frozen=True, kw_only=True)
class InvoiceVoided(DomainEvent):
    """The invoice was cancelled: the rider owes nothing on it (anything collected went back)."""

    name: ClassVar[str] = "billing.InvoiceVoided"
    version: ClassVar[int] = 1

    invoice_id: UUID
    trip_id: UUID
    rider_id: UUID
    voided_at: datetime


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(DomainEvent):
    """Money was given back to the rider on a payment (in part or in full)."""

    name: ClassVar[str] = "billing.PaymentRefunded"
    version: ClassVar[int] = 1

    refund_id: UUID
    payment_id: UUID
    invoice_id: UUID
    rider_id: UUID
    amount: Decimal
    currency: str
    refunded_at: datetime
