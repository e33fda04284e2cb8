"""Reads of the users module.

A rider's account (username, email, active) is read by id, never joined: see ``accounts``.
"""

from collections.abc import Iterable
from uuid import UUID

from django.db.models import QuerySet

from modules.users.accounts import Account, account_find_by_username, accounts_by_id
from modules.users.errors import CreditHoldNotFound, RiderNotFound
from modules.users.models import CreditHold, LedgerEntry, Rider, Wallet


def rider_list() -> QuerySet[Rider]:
    """Every rider profile with its wallet, newest first (one query per page).

    The accounts are read afterwards, a page at a time, with ``riders_with_accounts``.
    """
    return Rider.objects.select_related("wallet").order_by("-created_at", "id")


def riders_with_accounts(riders: Iterable[Rider]) -> list[Rider]:
    """``riders`` with their accounts read in one query, so ``rider.account`` asks no more."""
    riders = list(riders)
    accounts = accounts_by_id(rider.id for rider in riders)
    for rider in riders:
        rider.account = accounts.get(rider.id) or Account.missing(rider.id)
    return riders


def rider_get(*, rider_id: UUID) -> Rider:
    """The rider profile with this id (no provisioning); raises ``RiderNotFound``."""
    rider = Rider.objects.select_related("wallet").filter(id=rider_id).first()
    if rider is None:
        raise RiderNotFound(f"There is no rider with id {rider_id}.")
    return rider


def rider_find_by_username(*, username: str) -> Rider | None:
    """The rider profile whose account has this username (any case), or None."""
    account = account_find_by_username(username)
    if account is None:
        return None
    rider = Rider.objects.filter(id=account.id).first()
    if rider is not None:
        rider.account = account
    return rider


def rider_wallet(*, rider: Rider) -> Wallet | None:
    """The rider's wallet, or None when it was never created."""
    try:
        return rider.wallet
    except Wallet.DoesNotExist:
        return None


def ledger_entry_list(*, wallet: Wallet) -> QuerySet[LedgerEntry]:
    """A wallet's ledger, newest entry first."""
    return LedgerEntry.objects.filter(wallet=wallet).order_by("-sequence")


def credit_hold_get(*, hold_id: UUID) -> CreditHold:
    """The hold with this id and its wallet; raises ``CreditHoldNotFound``."""
    hold = CreditHold.objects.select_related("wallet").filter(pk=hold_id).first()
    if hold is None:
        raise CreditHoldNotFound(f"There is no credit hold with id {hold_id}.")
    return hold


def credit_hold_find(*, rider_id: UUID, reference: str) -> CreditHold | None:
    """The rider's hold placed under ``reference`` (any state) and its wallet, or None."""
    return (
        CreditHold.objects.select_related("wallet")
        .filter(wallet__rider_id=rider_id, reference=reference)
        .first()
    )
