"""Billing tables: tariffs, invoices and their lines, payment methods, payments, refunds,
and credit purchases (wallet credit bought with the card on file).

The sandbox payment provider keeps its own tables here too (``SandboxCharge``,
``SandboxRefund``): they stand for the provider's side and are only touched by
``gateways.SandboxGateway``.
"""

import uuid

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.db import models
from django.db.models import F, Func, Q

from monolith.platform.outbox.models import InboxEntry, OutboxMessage, ParkedDeliveryBase


class TsTzRange(Func):
    """PostgreSQL ``tstzrange(lower, upper, bounds)``; a NULL upper bound is open-ended."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Tariff(models.Model):
    """Prices in force from ``effective_from`` (inclusive) to ``effective_to`` (exclusive)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3)
    base_fare = models.DecimalField(max_digits=12, decimal_places=2)
    per_km = models.DecimalField(max_digits=12, decimal_places=2)
    per_minute = models.DecimalField(max_digits=12, decimal_places=2)
    minimum_fare = models.DecimalField(max_digits=12, decimal_places=2)
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="billing_tariff_period_forward",
                violation_error_message="effective_to must be later than effective_from.",
            ),
            models.CheckConstraint(
                condition=Q(base_fare__gte=0)
                & Q(per_km__gte=0)
                & Q(per_minute__gte=0)
                & Q(minimum_fare__gte=0),
                name="billing_tariff_prices_not_negative",
            ),
            # The services check for overlaps too; this closes the race between two
            # concurrent creations that both passed that check.
            ExclusionConstraint(
                name="billing_tariff_periods_do_not_overlap",
                expressions=[
                    (
                        TsTzRange("effective_from", "effective_to", RangeBoundary()),
                        RangeOperators.OVERLAPS,
                    )
                ],
                violation_error_message="The period overlaps another tariff's period.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (from {self.effective_from:%Y-%m-%d %H:%M})"


class InvoiceNumberCounter(models.Model):
    """The last invoice number handed out; its row is locked while a number is taken.

    A locked row rather than a sequence keeps the numbers gapless: a rolled-back
    issuance gives its number back.
    """

    name = models.CharField(max_length=32, primary_key=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_value}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", "Issued"
        PAID = "paid", "Paid"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        VOID = "void", "Void"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=20, unique=True)
    trip_id = models.UUIDField(unique=True)
    rider_id = models.UUIDField()
    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="invoices")
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ISSUED)
    trip_distance_km = models.DecimalField(max_digits=10, decimal_places=3)
    trip_duration_seconds = models.PositiveIntegerField()
    trip_completed_at = models.DateTimeField()
    issued_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issued_at", "-number"]
        indexes = [
            models.Index(fields=["rider_id", "-issued_at"], name="billing_inv_rider_issued"),
            models.Index(fields=["status"], name="billing_inv_status"),
            models.Index(fields=["-issued_at"], name="billing_inv_issued"),
        ]
        permissions = [("operate_invoice", "Can retry payment for and void invoices")]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        BASE = "base", "Base fare"
        DISTANCE = "distance", "Distance"
        TIME = "time", "Time"
        MINIMUM_TOP_UP = "minimum_top_up", "Minimum fare top-up"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "position"], name="billing_invoice_line_position_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class PaymentMethod(models.Model):
    """The card a rider pays with, as the gateway's token; brand and last4 are for display."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider_id = models.UUIDField(unique=True)
    card_token = models.CharField(max_length=255)
    brand = models.CharField(max_length=30, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.brand or 'card'} ending {self.last4 or '????'}"


class Payment(models.Model):
    """Money collected on an invoice, or an attempt that failed; never edited once written.

    A card payment is one attempt to charge the rider's card through the gateway. A wallet
    payment is credit taken from the hold the rider's booking placed, after a card attempt
    failed; its idempotency key names that hold, so one hold is recorded at most once.
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        CARD = "card", "Card"
        WALLET = "wallet", "Wallet credit"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    attempt = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CARD)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices)
    gateway_charge_id = models.CharField(max_length=100, blank=True)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "attempt"], name="billing_payment_attempt_unique"
            )
        ]
        permissions = [("refund_payment", "Can refund payments")]

    def __str__(self) -> str:
        return f"{self.invoice_id} attempt {self.attempt}: {self.status}"


class Refund(models.Model):
    """Money given back on a payment; never edited once written."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices)
    gateway_refund_id = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    # The account (platform user id) of the staff member who gave the money back. An id, not
    # a relation: the accounts may live in another database than billing's.
    created_by_id = models.UUIDField("created by", null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.amount} on {self.payment_id}"


class CreditPurchase(models.Model):
    """Wallet credit a rider bought with their card; never edited by hand.

    The card is charged and the purchase recorded (``charged`` or ``failed``) in one
    transaction, then the wallet is credited in another (``succeeded``). A purchase left
    ``charged`` is finished by repeating the request with the same idempotency key, or by
    staff from the admin; the wallet's reference names the purchase, so it is credited once.
    """

    class Status(models.TextChoices):
        CHARGED = "charged", "Charged, wallet not yet credited"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider_id = models.UUIDField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices)
    gateway_charge_id = models.CharField(max_length=100, blank=True)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rider_id", "idempotency_key"],
                name="billing_credit_purchase_key_unique",
            )
        ]
        indexes = [
            models.Index(fields=["rider_id", "-created_at"], name="billing_cp_rider_created"),
            models.Index(fields=["status"], name="billing_cp_status"),
        ]
        permissions = [
            ("settle_creditpurchase", "Can credit the wallet for charged credit purchases")
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.rider_id}: {self.status}"


class SandboxCharge(models.Model):
    """A charge as the sandbox provider records it (declines included, as providers do)."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    charge_id = models.CharField(max_length=100, unique=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    card_token = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.charge_id


class SandboxRefund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    refund_id = models.CharField(max_length=100, unique=True)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    idempotency_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.refund_id


class Outbox(OutboxMessage):
    """Events this module published, written in the transaction that made them true."""


class Inbox(InboxEntry):
    """Events billing has handled, each written with its effect: a redelivery does nothing."""


class ParkedDelivery(ParkedDeliveryBase):
    """Deliveries to billing that failed every attempt, waiting for staff to retry them."""
