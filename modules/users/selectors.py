"""Reads of the users module."""

from uuid import UUID

from django.db.models import QuerySet

from modules.users.errors import CreditHoldNotFound, RiderNotFound
from modules.users.models import CreditHold, LedgerEntry, Rider, Wallet


def rider_list() -> QuerySet[Rider]:
    """Every rider profile with its account and wallet, newest first (one query per page)."""
    return Rider.objects.select_related("user", "wallet").order_by("-created_at", "user_id")


def rider_get(*, rider_id: UUID) -> Rider:
    """The rider profile with this id (no provisioning); raises ``RiderNotFound``."""
    rider = Rider.objects.select_related("user", "wallet").filter(user_id=rider_id).first()
    if rider is None:
        raise RiderNotFound(f"There is no rider with id {rider_id}.")
    return rider


def rider_find_by_username(*, username: str) -> Rider | None:
    """The rider profile whose account has this username (any case), or None."""
    return Rider.objects.select_related("user").filter(user__username__iexact=username).first()


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
