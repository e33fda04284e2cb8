"""The platform's accounts as the users module reads them: by id, never through a join.

A rider's or staff member's id is their account's id, but accounts belong to the platform
(``settings.AUTH_USER_MODEL``) and, once this module is peeled off, live in another database.
So the module's tables keep the id only, and username, email and the active flag are read here
in a query of their own: one per page of a list, never one per row.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db.models import Q

_COLUMNS = ("pk", "username", "email", "is_active")


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """What the users module shows of an account."""

    id: UUID
    username: str
    email: str
    is_active: bool

    @classmethod
    def of(cls, user: Any) -> "Account":
        """The account of a user instance already at hand (the signed-in one, a new one)."""
        return cls(id=user.pk, username=user.username, email=user.email, is_active=user.is_active)

    @classmethod
    def missing(cls, account_id: UUID) -> "Account":
        """A profile whose account was deleted: no name, and not active."""
        return cls(id=account_id, username="", email="", is_active=False)


def accounts_by_id(account_ids: Iterable[UUID | None]) -> dict[UUID, Account]:
    """The accounts with these ids, in one query (none for no ids); deleted ones are absent."""
    wanted = {account_id for account_id in account_ids if account_id is not None}
    if not wanted:
        return {}
    rows = get_user_model().objects.filter(pk__in=wanted).values_list(*_COLUMNS)
    return {
        pk: Account(id=pk, username=username, email=email, is_active=is_active)
        for pk, username, email, is_active in rows
    }


def account_ids_matching(text: str) -> list[UUID]:
    """Ids of the accounts whose username or email contains ``text`` (any case)."""
    return list(
        get_user_model()
        .objects.filter(Q(username__icontains=text) | Q(email__icontains=text))
        .values_list("pk", flat=True)
    )


def account_ids_inactive() -> list[UUID]:
    """Ids of the deactivated accounts (few: accounts are deactivated, not most of them)."""
    return list(get_user_model().objects.filter(is_active=False).values_list("pk", flat=True))


def account_find_by_username(username: str) -> Account | None:
    """The account with this username (any case), or None."""
    row = get_user_model().objects.filter(username__iexact=username).values_list(*_COLUMNS).first()
    if row is None:
        return None
    pk, name, email, is_active = row
    return Account(id=pk, username=name, email=email, is_active=is_active)
