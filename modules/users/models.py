import uuid
from decimal import Decimal
from typing import Any, ClassVar

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from modules.users.accounts import Account, accounts_by_id
from monolith.platform.outbox.models import OutboxMessage

# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
e164_validator = RegexValidator(
    regex=r"^\+[1-9]\d{1,14}$",
    message="Enter the phone number in international E.164 format, for example +4915112345678.",
    code="invalid_phone",
)

ZERO = Decimal("0.00")


class Rider(models.Model):
    """A rider's profile, keyed by the rider's account id: the rider id is the user id.

    An id and not a relation: the accounts are the platform's and may live in another
    database. ``account`` reads the username, email and active flag by that id.
    """

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        GERMAN = "de", "German"
        FRENCH = "fr", "French"
        SPANISH = "es", "Spanish"
        DUTCH = "nl", "Dutch"

    id = models.UUIDField(
        primary_key=True, editable=False, help_text="The rider's account id (the user id)."
    )
    display_name = models.CharField(max_length=100)
    phone = models.CharField(max_length=16, blank=True, validators=[e164_validator])
    preferred_language = models.CharField(
        max_length=5, choices=Language.choices, default=Language.ENGLISH
    )
    home_city = models.CharField(max_length=100, blank=True)
    notify_by_email = models.BooleanField(default=True)
    notify_by_sms = models.BooleanField(default=False)
    notify_by_push = models.BooleanField(default=True)
    wheelchair_accessible = models.BooleanField(
        default=False, help_text="The rider needs a wheelchair-accessible vehicle."
    )
    quiet_ride = models.BooleanField(default=False, help_text="No cabin announcements or music.")
    marketing_opt_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        indexes: ClassVar = [
            models.Index(fields=["home_city"], name="users_rider_home_city_idx"),
            models.Index(fields=["-created_at"], name="users_rider_created_idx"),
        ]

    # Filled once per instance by ``account``, or for a whole page by the selectors.
    _account: Account | None = None

    def __str__(self) -> str:
        return self.display_name

    @property
    def account(self) -> Account:
        """The rider's account (username, email, active), read by id once and then kept."""
        if self._account is None:
            self._account = accounts_by_id([self.id]).get(self.id) or Account.missing(self.id)
        return self._account

    @account.setter
    def account(self, account: Account) -> None:
        # Read elsewhere: a page's accounts in one query, or the signed-in user's.
        self._account = account


class StaffProfile(models.Model):
    """Fleet staff and migration team members: where they work and what they do.

    Keyed by the member's account id, as riders are (an id, not a relation).
    """

    id = models.UUIDField(
        primary_key=True, editable=False, help_text="The staff member's account id (the user id)."
    )
    employee_number = models.CharField(max_length=32, unique=True)
    depot = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("employee_number",)

    def __str__(self) -> str:
        return self.employee_number


class Wallet(models.Model):
    """A rider's credit: ``available`` to spend and ``held`` for trips in progress.

    Balances only change through the services, each change writing one ledger entry;
    ``ledger_sequence`` is the number of the last entry, so entries are gapless per wallet.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider = models.OneToOneField(Rider, on_delete=models.PROTECT, related_name="wallet")
    currency = models.CharField(max_length=3)
    available = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    held = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    ledger_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(available__gte=0), name="users_wallet_available_not_negative"
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="users_wallet_held_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Wallet of {self.rider}"


class CreditHold(models.Model):
    """Credit set aside for a purpose (``reference``, unique per wallet) until settled."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        RELEASED = "released", "Released"
        CAPTURED = "captured", "Captured"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    captured_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    reference = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["wallet", "reference"], name="users_credithold_reference_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="users_credithold_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(captured_amount__isnull=True)
                | Q(captured_amount__gt=0, captured_amount__lte=F("amount")),
                name="users_credithold_captured_within_amount",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["status"], name="users_credithold_status_idx")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"


class LedgerEntry(models.Model):
    """One movement of a wallet's credit, with the balances right after it. Append-only.

    ``amount`` is positive for every kind except ``adjustment``, where its sign says whether
    staff credited or debited the wallet. A mistake is corrected by a new entry, never by
    editing one; the database refuses updates and deletes as well (migration 0002).
    """

    class Kind(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        HOLD = "hold", "Hold"
        RELEASE = "release", "Release"
        CAPTURE = "capture", "Capture"
        ADJUSTMENT = "adjustment", "Adjustment"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    available_after = models.DecimalField(max_digits=12, decimal_places=2)
    held_after = models.DecimalField(max_digits=12, decimal_places=2)
    hold = models.ForeignKey(
        CreditHold, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    reference = models.CharField(max_length=100, blank=True)
    memo = models.CharField(max_length=255, blank=True)
    # The account (user id) of the staff member behind an adjustment; none for the rest.
    created_by_id = models.UUIDField("created by", null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-sequence")
        verbose_name_plural = "ledger entries"
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["wallet", "sequence"], name="users_ledgerentry_sequence_unique"
            ),
            # Top-ups are idempotent per billing reference (one per card payment).
            models.UniqueConstraint(
                fields=["wallet", "reference"],
                condition=Q(kind="top_up"),
                name="users_ledgerentry_top_up_reference_unique",
            ),
            models.CheckConstraint(
                condition=(Q(kind="adjustment") & ~Q(amount=0))
                | (~Q(kind="adjustment") & Q(amount__gt=0)),
                name="users_ledgerentry_amount_sign",
            ),
            models.CheckConstraint(
                condition=Q(available_after__gte=0, held_after__gte=0),
                name="users_ledgerentry_balances_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} #{self.sequence}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An integrity guard, not a business rule: a stored entry is history.
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only; write a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Ledger entries are append-only and are never deleted.")


class Outbox(OutboxMessage):
    """Events this module published, written in the transaction that made them true."""
