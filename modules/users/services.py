"""Writes of the users module: sign-up, profiles, and every movement of a rider's credit.

Every balance change locks the wallet row (``select_for_update``), checks the rule, updates the
balances and appends exactly one ledger entry per movement, all in one transaction; the
database's check constraints stand behind the checks here, so no race can leave a negative
balance.
"""

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from modules.users.accounts import Account, accounts_by_id
from modules.users.errors import CreditHoldNotFound, InsufficientCredit, RiderNotFound
from modules.users.events import RiderRegistered
from modules.users.models import CreditHold, LedgerEntry, Rider, StaffProfile, Wallet
from monolith.platform.access import Role, is_fleet_staff
from monolith.platform.errors import Conflict, IllegalTransition, InvalidRequest
from monolith.platform.events import publish
from monolith.platform.money import money_amount_clean
from monolith.platform.registry import module_atomic

# The most a single top-up (paid for through billing) may add; larger sums go through staff
# adjustments.
TOP_UP_MAXIMUM = Decimal("500.00")
# Keeps every amount inside DecimalField(max_digits=12, decimal_places=2).
AMOUNT_MAXIMUM = Decimal("9999999999.99")

RIDER_EDITABLE_FIELDS = frozenset(
    {
        "display_name",
        "phone",
        "preferred_language",
        "home_city",
        "notify_by_email",
        "notify_by_sms",
        "notify_by_push",
        "wheelchair_accessible",
        "quiet_ride",
        "marketing_opt_in",
    }
)


def _reference_clean(reference: str) -> str:
    reference = (reference or "").strip()
    if not reference:
        raise InvalidRequest("A reference is required.", field="reference")
    if len(reference) > 100:
        raise InvalidRequest("A reference has at most 100 characters.", field="reference")
    return reference


def rider_register(*, username: str, email: str, password: str, display_name: str) -> Rider:
    """Create an account with the rider role, then its profile and an empty wallet.

    Two databases once this module is peeled off: the account is the platform's, the profile
    and wallet are this module's. The account is written (and committed) first; should the
    profile then fail, the account still carries the rider role, and ``rider_provision`` gives
    it its profile and wallet on first use. In the monolith both are one transaction.
    """
    user_model = get_user_model()
    username = user_model.normalize_username((username or "").strip())
    email = user_model.objects.normalize_email((email or "").strip())
    display_name = (display_name or "").strip() or username

    candidate = user_model(username=username, email=email)
    try:
        candidate.full_clean(exclude=["password"])
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidRequest(" ".join(messages), field=field) from None
    if user_model.objects.filter(username__iexact=username).exists():
        raise InvalidRequest("A user with that username already exists.", field="username")
    if email and user_model.objects.filter(email__iexact=email).exists():
        raise InvalidRequest("An account with that email address already exists.", field="email")
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise InvalidRequest(" ".join(exc.messages), field="password") from None
    # Checked before the account exists, so a bad profile leaves no account behind.
    rider = Rider(display_name=display_name)
    try:
        rider.full_clean(exclude=["id"])
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidRequest(" ".join(messages), field=field) from None

    with module_atomic("users"):
        user = _rider_account_create(username=username, email=email, password=password)
        rider.id = user.pk
        rider.account = Account.of(user)
        rider.save(force_insert=True)
        Wallet.objects.create(rider=rider, currency=settings.FLEET_CURRENCY)
        publish(RiderRegistered(rider_id=user.pk, username=user.username))
    return rider


def _rider_account_create(*, username: str, email: str, password: str) -> Any:
    """The platform account with the rider role, in a transaction on the accounts' database."""
    user_model = get_user_model()
    accounts_database = router.db_for_write(user_model)
    with transaction.atomic(using=accounts_database):
        try:
            # A savepoint, so losing the name to a concurrent sign-up leaves a clean 400.
            with transaction.atomic(using=accounts_database):
                user = user_model.objects.create_user(
                    username=username, email=email, password=password
                )
        except IntegrityError:
            raise InvalidRequest(
                "A user with that username already exists.", field="username"
            ) from None
        group, _ = Group.objects.get_or_create(name=Role.RIDER.value)
        user.groups.add(group)
    return user


def rider_provision(*, user_id: UUID) -> Rider:
    """The rider profile of ``user_id``, created on first use for accounts with the rider role.

    Accounts made outside sign-up (the admin, another deployable, test fixtures) carry the
    rider role without a profile; they get one, and an empty wallet, the first time they are
    used as a rider. Accounts without the role are not riders: ``RiderNotFound``.
    """
    rider = Rider.objects.filter(id=user_id).first()
    if rider is not None:
        # Every request of a rider passes here: the common case opens no transaction.
        return rider
    user = (
        get_user_model()
        .objects.filter(pk=user_id, groups__name=Role.RIDER.value)
        .only("pk", "username", "email", "is_active", "first_name", "last_name")
        .first()
    )
    if user is None:
        raise RiderNotFound(f"There is no rider with id {user_id}.")
    rider = _rider_create_for_account(
        user_id=user.pk, display_name=user.get_full_name() or user.username
    )
    rider.account = Account.of(user)
    return rider


@module_atomic("users")
def _rider_create_for_account(*, user_id: UUID, display_name: str) -> Rider:
    rider, _ = Rider.objects.get_or_create(id=user_id, defaults={"display_name": display_name})
    Wallet.objects.get_or_create(rider=rider, defaults={"currency": settings.FLEET_CURRENCY})
    return Rider.objects.select_related("wallet").get(pk=rider.pk)


@module_atomic("users")
def rider_update(*, rider: Rider, data: dict[str, Any]) -> Rider:
    """Change a rider's profile and preferences; only the fields in ``data`` are touched."""
    unknown = set(data) - RIDER_EDITABLE_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidRequest(f"{field} cannot be changed here.", field=field)
    changed = [field for field, value in data.items() if getattr(rider, field) != value]
    if not changed:
        return rider
    for field in changed:
        setattr(rider, field, data[field])
    # Raises Django's ValidationError naming the field (the REST layer answers 400).
    rider.full_clean(exclude=["id"])
    rider.save(update_fields=[*changed, "updated_at"])
    return rider


def wallet_ensure(*, rider: Rider) -> Wallet:
    """The rider's wallet, created empty in the platform currency if it does not exist yet."""
    wallet, _ = Wallet.objects.get_or_create(
        rider=rider, defaults={"currency": settings.FLEET_CURRENCY}
    )
    return wallet


def _wallet_lock(*, rider_id: UUID) -> Wallet:
    """The rider's wallet, row-locked until the surrounding transaction ends."""
    wallet = Wallet.objects.select_for_update().filter(rider_id=rider_id).first()
    if wallet is None:
        wallet_ensure(rider=rider_provision(user_id=rider_id))
        wallet = Wallet.objects.select_for_update().get(rider_id=rider_id)
    return wallet


def _hold_lock(*, hold_id: UUID) -> tuple[Wallet, CreditHold]:
    """A hold and its wallet, both row-locked, the wallet first like every other movement."""
    wallet_id = CreditHold.objects.filter(pk=hold_id).values_list("wallet_id", flat=True).first()
    if wallet_id is None:
        raise CreditHoldNotFound(f"There is no credit hold with id {hold_id}.")
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    hold = CreditHold.objects.select_for_update().get(pk=hold_id)
    hold.wallet = wallet
    return wallet, hold


def _ledger_append(
    *,
    wallet: Wallet,
    kind: str,
    amount: Decimal,
    hold: CreditHold | None = None,
    reference: str = "",
    memo: str = "",
    created_by_id: UUID | None = None,
) -> LedgerEntry:
    """Save the wallet's new balances and append the entry that explains them."""
    wallet.ledger_sequence += 1
    wallet.save(update_fields=["available", "held", "ledger_sequence", "updated_at"])
    return LedgerEntry.objects.create(
        wallet=wallet,
        sequence=wallet.ledger_sequence,
        kind=kind,
        amount=amount,
        available_after=wallet.available,
        held_after=wallet.held,
        hold=hold,
        reference=reference,
        memo=memo,
        created_by_id=created_by_id,
    )


@module_atomic("users")
def wallet_top_up(*, rider_id: UUID, amount: Decimal, reference: str) -> tuple[LedgerEntry, bool]:
    """Add credit that was paid for; returns the top-up entry and whether this call made it.

    Only billing calls this (through ``api.credit_top_up``), after it has charged the rider's
    card; riders have no endpoint of their own for it. Idempotent per ``reference``: repeating
    a top-up returns the first entry and adds nothing; reusing a reference for a different
    amount is a ``Conflict``.
    """
    amount = money_amount_clean(amount, maximum=TOP_UP_MAXIMUM)
    reference = _reference_clean(reference)
    wallet = _wallet_lock(rider_id=rider_id)
    previous = LedgerEntry.objects.filter(
        wallet=wallet, kind=LedgerEntry.Kind.TOP_UP, reference=reference
    ).first()
    if previous is not None:
        if previous.amount != amount:
            raise Conflict(
                f"The reference {reference!r} was already used for a top-up of "
                f"{previous.amount}; use a new reference for a new top-up.",
                field="reference",
            )
        previous.wallet = wallet
        return previous, False
    wallet.available += amount
    entry = _ledger_append(
        wallet=wallet,
        kind=LedgerEntry.Kind.TOP_UP,
        amount=amount,
        reference=reference,
    )
    return entry, True


@module_atomic("users")
def credit_hold_create(
    *, rider_id: UUID, amount: Decimal, reference: str
) -> tuple[CreditHold, bool]:
    """Move ``amount`` from available to held; returns the hold and whether this call made it.

    Idempotent per ``reference``: the same reference returns the first hold, whatever its
    state now. Raises ``InsufficientCredit`` when too little is available.
    """
    amount = money_amount_clean(amount, maximum=AMOUNT_MAXIMUM)
    reference = _reference_clean(reference)
    wallet = _wallet_lock(rider_id=rider_id)
    previous = CreditHold.objects.filter(wallet=wallet, reference=reference).first()
    if previous is not None:
        if previous.amount != amount:
            raise Conflict(
                f"The reference {reference!r} already holds {previous.amount}; "
                "use a new reference for a different hold.",
                field="reference",
            )
        previous.wallet = wallet
        return previous, False
    if wallet.available < amount:
        raise InsufficientCredit(
            f"Only {wallet.available} {wallet.currency} is available; holding {amount} "
            f"needs {amount - wallet.available} more."
        )
    wallet.available -= amount
    wallet.held += amount
    hold = CreditHold.objects.create(wallet=wallet, amount=amount, reference=reference)
    _ledger_append(
        wallet=wallet, kind=LedgerEntry.Kind.HOLD, amount=amount, hold=hold, reference=reference
    )
    return hold, True


@module_atomic("users")
def credit_hold_release(*, hold_id: UUID) -> CreditHold:
    """Give a held amount back to the available balance.

    Releasing a released hold changes nothing; releasing a captured one is an
    ``IllegalTransition``.
    """
    wallet, hold = _hold_lock(hold_id=hold_id)
    if hold.status == CreditHold.Status.RELEASED:
        return hold
    if hold.status != CreditHold.Status.HELD:
        raise IllegalTransition(
            f"The credit hold {hold.reference!r} is {hold.status}; it cannot become released."
        )
    wallet.held -= hold.amount
    wallet.available += hold.amount
    hold.status = CreditHold.Status.RELEASED
    hold.settled_at = timezone.now()
    hold.save(update_fields=["status", "settled_at"])
    _ledger_append(
        wallet=wallet,
        kind=LedgerEntry.Kind.RELEASE,
        amount=hold.amount,
        hold=hold,
        reference=hold.reference,
    )
    return hold


@module_atomic("users")
def credit_hold_capture(*, hold_id: UUID, amount: Decimal | None = None) -> CreditHold:
    """Spend a hold: all of it, or ``amount`` of it with the remainder released.

    Capturing a captured hold changes nothing; capturing a released one is an
    ``IllegalTransition``.
    """
    wallet, hold = _hold_lock(hold_id=hold_id)
    if hold.status == CreditHold.Status.CAPTURED:
        return hold
    if hold.status != CreditHold.Status.HELD:
        raise IllegalTransition(
            f"The credit hold {hold.reference!r} is {hold.status}; it cannot become captured."
        )
    captured = hold.amount if amount is None else money_amount_clean(amount)
    if captured > hold.amount:
        raise InvalidRequest(
            f"Cannot capture {captured}: the hold is for {hold.amount}.", field="amount"
        )
    hold.status = CreditHold.Status.CAPTURED
    hold.captured_amount = captured
    hold.settled_at = timezone.now()
    hold.save(update_fields=["status", "captured_amount", "settled_at"])
    wallet.held -= captured
    _ledger_append(
        wallet=wallet,
        kind=LedgerEntry.Kind.CAPTURE,
        amount=captured,
        hold=hold,
        reference=hold.reference,
    )
    remainder = hold.amount - captured
    if remainder:
        wallet.held -= remainder
        wallet.available += remainder
        _ledger_append(
            wallet=wallet,
            kind=LedgerEntry.Kind.RELEASE,
            amount=remainder,
            hold=hold,
            reference=hold.reference,
            memo="Remainder of a partial capture.",
        )
    return hold


@module_atomic("users")
def wallet_adjust(*, rider_id: UUID, amount: Decimal, memo: str, created_by: Any) -> LedgerEntry:
    """Credit (positive ``amount``) or debit (negative) a wallet by hand, as fleet staff.

    The memo says why and is mandatory; a debit larger than the available balance is
    ``InsufficientCredit``.
    """
    if not is_fleet_staff(created_by):
        raise InvalidRequest("Only fleet staff may adjust credit.", field="created_by")
    amount = money_amount_clean(amount, allow_negative=True, maximum=AMOUNT_MAXIMUM)
    memo = (memo or "").strip()
    if not memo:
        raise InvalidRequest("Say why in the memo: adjustments need one.", field="memo")
    if len(memo) > 255:
        raise InvalidRequest("A memo has at most 255 characters.", field="memo")
    wallet = _wallet_lock(rider_id=rider_id)
    if wallet.available + amount < 0:
        raise InsufficientCredit(
            f"Only {wallet.available} {wallet.currency} is available; "
            f"a debit of {-amount} would make it negative."
        )
    wallet.available += amount
    return _ledger_append(
        wallet=wallet,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        amount=amount,
        memo=memo,
        created_by_id=created_by.pk,
    )


@module_atomic("users")
def staff_profile_ensure(
    *, user_id: UUID, employee_number: str, depot: str = "", job_title: str = ""
) -> StaffProfile:
    """The staff profile of ``user_id``, created with these details when it has none yet."""
    if not accounts_by_id([user_id]):
        raise InvalidRequest(f"There is no account with id {user_id}.", field="user_id")
    profile, _ = StaffProfile.objects.get_or_create(
        id=user_id,
        defaults={"employee_number": employee_number, "depot": depot, "job_title": job_title},
    )
    return profile
