"""Who is in a module's cohort: the targeting of one routing flag, decided without a query.

The percentage is sticky without cookies: an account's bucket is a hash of the flag's name and
the account id into 10,000 buckets, and the account is in the cohort when its bucket lies below
the line (percent x 100). Widening moves the line up, so everyone already below stays below;
narrowing moves it down, so only the accounts between the two lines leave. The flag's name
salts the hash, so 10% of trips and 10% of billing are not the same people.
"""

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

BUCKETS = 10_000
ROUTE_PREFIX = "route."
# Buckets a rule remembers (about 100 bytes each) before it starts over.
BUCKET_MEMORY = 100_000


class Side(StrEnum):
    """Where a request is served: the monolith, or the module's extracted service."""

    MONOLITH = "monolith"
    SERVICE = "service"


class Reason(StrEnum):
    """Why a request lands on its side."""

    NOT_ROUTED = "not-routed"  # this deployable has no service to send the module to
    NOBODY = "nobody"  # no flag, the flag is off for everyone, or the cohort is empty
    EVERYONE = "everyone"
    USER = "user"  # named in the cohort
    GROUP = "group"  # member of a group named in the cohort
    PERCENT = "percent"  # bucket below the line
    OUTSIDE = "outside"  # a cohort exists and this account is not in it
    ANONYMOUS = "anonymous"  # a cohort exists and the request carries no account


def route_flag_name(module: str) -> str:
    """The waffle flag that routes ``module``: ``route.<module>``."""
    return f"{ROUTE_PREFIX}{module}"


def cohort_line(percent: Decimal | None) -> int:
    """The bucket below which accounts are in the cohort: 10% is 1,000 of 10,000."""
    return int((percent or Decimal(0)) * (BUCKETS // 100))


_prefixes: dict[str, Any] = {}


def cohort_bucket(flag_name: str, account_id: UUID | str) -> int:
    """The account's bucket for this flag, 0 to 9,999, the same in every process and run.

    SHA-256 of ``"<flag>:<account id>"`` (the id as its canonical hyphenated text), first four
    bytes as an unsigned big-endian number, modulo 10,000. ``selectors.cohort_size`` computes
    the same in SQL; a test keeps the two equal.
    """
    prefix = _prefixes.get(flag_name)
    if prefix is None:
        prefix = _prefixes[flag_name] = hashlib.sha256(f"{flag_name}:".encode())
    # Copying a hash that has already taken the flag's name costs less than starting one.
    digest = prefix.copy()
    digest.update(str(account_id).encode())
    return int.from_bytes(digest.digest()[:4], "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class CohortRule:
    """A routing flag's targets, resolved to account ids when the flag was loaded."""

    flag: str
    everyone: bool | None
    line: int
    user_ids: frozenset[UUID]
    group_member_ids: frozenset[UUID]
    group_ids: frozenset[int]
    shadow: bool
    # Buckets already computed, by account: a dictionary lookup costs less than a hash.
    buckets: dict[UUID, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def module(self) -> str:
        return self.flag.removeprefix(ROUTE_PREFIX)

    @property
    def needs_account(self) -> bool:
        """Whether the decision depends on who is asking (a partial cohort)."""
        return self.everyone is None and bool(self.line or self.user_ids or self.group_ids)

    def place(self, account_id: UUID | None) -> tuple[bool, Reason]:
        """Whether the account is in the cohort, and why."""
        if self.everyone is not None:
            return self.everyone, Reason.EVERYONE if self.everyone else Reason.NOBODY
        if not self.needs_account:
            return False, Reason.NOBODY
        if account_id is None:
            return False, Reason.ANONYMOUS
        if account_id in self.user_ids:
            return True, Reason.USER
        if account_id in self.group_member_ids:
            return True, Reason.GROUP
        if self.line and self.bucket_of(account_id) < self.line:
            return True, Reason.PERCENT
        return False, Reason.OUTSIDE

    def bucket_of(self, account_id: UUID) -> int:
        bucket = self.buckets.get(account_id)
        if bucket is None:
            if len(self.buckets) >= BUCKET_MEMORY:
                self.buckets.clear()
            bucket = self.buckets[account_id] = cohort_bucket(self.flag, account_id)
        return bucket
