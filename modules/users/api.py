"""Front door of the users module: riders, staff profiles and the credit wallet.

Functions take and return small frozen dataclasses, never model instances or querysets.
A rider's id is the id of their account (``settings.AUTH_USER_MODEL``). An account that holds
the rider role but was made outside sign-up gets its profile and wallet on first use.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from modules.users import selectors, services
from modules.users.errors import CreditHoldNotFound, InsufficientCredit, RiderNotFound
from modules.users.models import CreditHold, Rider, Wallet
from monolith.platform.interservice import api_read
from monolith.platform.money import Money

__all__ = [
    "CreditHoldNotFound",
    "CreditHoldSummary",
    "InsufficientCredit",
    "RiderNotFound",
    "RiderSummary",
    "WalletSummary",
    "credit_capture",
    "credit_hold",
    "credit_hold_find",
    "credit_hold_get",
    "credit_release",
    "credit_top_up",
    "rider_find_by_username",
    "rider_get",
    "rider_register",
    "staff_profile_ensure",
    "wallet_get",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RiderSummary:
    id: UUID
    username: str
    display_name: str
    email: str
    is_active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WalletSummary:
    rider_id: UUID
    available: Money
    held: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditHoldSummary:
    id: UUID
    rider_id: UUID
    amount: Money
    status: str  # held, released, captured
    captured: Money | None  # what was spent once captured; the rest went back to available
    reference: str
    created_at: datetime


def _rider_summary(rider: Rider) -> RiderSummary:
    account = rider.account
    return RiderSummary(
        id=rider.id,
        username=account.username,
        display_name=rider.display_name,
        email=account.email,
        is_active=account.is_active,
    )


def _wallet_summary(wallet: Wallet) -> WalletSummary:
    return WalletSummary(
        rider_id=wallet.rider_id,
        available=Money(wallet.available, wallet.currency),
        held=Money(wallet.held, wallet.currency),
    )


def _hold_summary(hold: CreditHold, wallet: Wallet) -> CreditHoldSummary:
    return CreditHoldSummary(
        id=hold.id,
        rider_id=wallet.rider_id,
        amount=Money(hold.amount, wallet.currency),
        status=hold.status,
        captured=(
            Money(hold.captured_amount, wallet.currency)
            if hold.captured_amount is not None
            else None
        ),
        reference=hold.reference,
        created_at=hold.created_at,
    )


def rider_register(*, username: str, email: str, password: str, display_name: str) -> RiderSummary:
    """Create an account with the rider role, its profile and an empty wallet.

    Raises ``InvalidRequest`` naming ``username``, ``email`` or ``password`` when one is taken
    or unacceptable (the password must pass Django's password validators).
    """
    return _rider_summary(
        services.rider_register(
            username=username, email=email, password=password, display_name=display_name
        )
    )


@api_read
def rider_get(*, rider_id: UUID) -> RiderSummary:
    """The rider with this id; raises ``RiderNotFound``."""
    return _rider_summary(services.rider_provision(user_id=rider_id))


@api_read
def rider_find_by_username(*, username: str) -> RiderSummary | None:
    """The rider whose account has this username, or ``None`` when there is none."""
    rider = selectors.rider_find_by_username(username=username)
    return _rider_summary(rider) if rider is not None else None


def staff_profile_ensure(
    *, user_id: UUID, employee_number: str, depot: str = "", job_title: str = ""
) -> None:
    """Give a staff or migration-team account its profile, unless it has one already.

    Raises ``InvalidRequest`` naming ``user_id`` when no account has this id.
    """
    services.staff_profile_ensure(
        user_id=user_id, employee_number=employee_number, depot=depot, job_title=job_title
    )


@api_read
def wallet_get(*, rider_id: UUID) -> WalletSummary:
    """The rider's wallet (created empty on first use); raises ``RiderNotFound``."""
    rider = services.rider_provision(user_id=rider_id)
    return _wallet_summary(services.wallet_ensure(rider=rider))


def credit_top_up(*, rider_id: UUID, amount: Decimal, reference: str) -> WalletSummary:
    """Add credit the rider has paid for; idempotent per ``reference`` (twice adds once).

    For billing, after it has charged the rider's card, with the payment as ``reference``;
    riders have no endpoint that adds credit. Raises ``InvalidRequest`` (``amount`` not above
    zero or above 500.00), ``Conflict`` when the reference was used for a different amount,
    ``RiderNotFound``.
    """
    entry, _ = services.wallet_top_up(rider_id=rider_id, amount=amount, reference=reference)
    return _wallet_summary(entry.wallet)


def credit_hold(*, rider_id: UUID, amount: Decimal, reference: str) -> CreditHoldSummary:
    """Hold credit for a purpose named by ``reference``; idempotent per reference.

    Raises ``InsufficientCredit`` when the available balance is smaller than ``amount``.
    The same reference again returns the first hold, whatever its state is now.
    """
    hold, _ = services.credit_hold_create(rider_id=rider_id, amount=amount, reference=reference)
    return _hold_summary(hold, hold.wallet)


@api_read
def credit_hold_get(*, hold_id: UUID) -> CreditHoldSummary:
    """The hold with this id; raises ``CreditHoldNotFound``."""
    hold = selectors.credit_hold_get(hold_id=hold_id)
    return _hold_summary(hold, hold.wallet)


@api_read
def credit_hold_find(*, rider_id: UUID, reference: str) -> CreditHoldSummary | None:
    """The rider's hold placed under ``reference``, whatever its state, or ``None``.

    How a module that knows the purpose (a trip's booking, say) finds the hold it settles.
    """
    hold = selectors.credit_hold_find(rider_id=rider_id, reference=reference)
    return None if hold is None else _hold_summary(hold, hold.wallet)


def credit_release(*, hold_id: UUID) -> CreditHoldSummary:
    """Release a hold back to the available balance; releasing twice is a no-op.

    Raises ``CreditHoldNotFound``, or ``IllegalTransition`` when the hold was captured.
    """
    hold = services.credit_hold_release(hold_id=hold_id)
    return _hold_summary(hold, hold.wallet)


def credit_capture(*, hold_id: UUID, amount: Decimal | None = None) -> CreditHoldSummary:
    """Spend a hold (all of it, or ``amount`` of it with the rest released).

    Capturing twice is a no-op. Raises ``CreditHoldNotFound``, ``IllegalTransition`` when the
    hold was released, ``InvalidRequest`` when ``amount`` exceeds the hold.
    """
    hold = services.credit_hold_capture(hold_id=hold_id, amount=amount)
    return _hold_summary(hold, hold.wallet)
