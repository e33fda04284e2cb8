"""Front door of the users module: riders, staff profiles and the credit wallet.

Functions take and return small frozen dataclasses, never model instances or querysets.
A rider's id is the id of their account (``settings.AUTH_USER_MODEL``).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from monolith.platform.errors import Conflict, NotFound
from monolith.platform.money import Money


class RiderNotFound(NotFound):
    code = "rider_not_found"


class CreditHoldNotFound(NotFound):
    code = "credit_hold_not_found"


class InsufficientCredit(Conflict):
    code = "insufficient_credit"


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
    reference: str
    created_at: datetime


def rider_register(*, username: str, email: str, password: str, display_name: str) -> RiderSummary:
    """Create an account with the rider role, its profile and an empty wallet."""
    raise NotImplementedError


def rider_get(*, rider_id: UUID) -> RiderSummary:
    """The rider with this id; raises ``RiderNotFound``."""
    raise NotImplementedError


def wallet_get(*, rider_id: UUID) -> WalletSummary:
    """The rider's wallet (created empty on first use); raises ``RiderNotFound``."""
    raise NotImplementedError


def credit_top_up(*, rider_id: UUID, amount: Decimal, reference: str) -> WalletSummary:
    """Add credit; idempotent per ``reference`` (the same reference twice adds once)."""
    raise NotImplementedError


def credit_hold(*, rider_id: UUID, amount: Decimal, reference: str) -> CreditHoldSummary:
    """Hold credit for a purpose named by ``reference``; idempotent per reference.

    Raises ``InsufficientCredit`` when the available balance is smaller than ``amount``.
    """
    raise NotImplementedError


def credit_release(*, hold_id: UUID) -> CreditHoldSummary:
    """Release a hold back to the available balance; releasing twice is a no-op."""
    raise NotImplementedError


def credit_capture(*, hold_id: UUID, amount: Decimal | None = None) -> CreditHoldSummary:
    """Spend a hold (all of it, or ``amount`` of it with the rest released)."""
    raise NotImplementedError
