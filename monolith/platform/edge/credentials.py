"""Who a DRF token belongs to, remembered by each process, so a forwarded request reads nothing.

A request the edge forwards needs only the account and its role names: they are what the
signed internal token carries, and the service authorises from them. Reading them costs two
queries per request (the token with its user, the user's groups), the largest part of the
edge's own work after the forward (docs/performance.md, "Edge proxy cost"). So each process
keeps, per token key, the account id and role names it read, for at most
``FLEET_EDGE_AUTH_CACHE_SECONDS`` (0: nothing is kept). Only token authentication is
remembered (a session goes through the view's CSRF check every time), and only for an active
user (DRF refuses the others).

A change that revokes or alters what is kept (a token deleted or rotated, a user saved, as
when deactivated, a group membership added or removed, a group renamed or deleted:
``monolith.accounts.signals``) is announced the way cohort routing announces its changes
(``monolith.cohorts.propagation``): once committed, a new random version token in Redis,
under its own key. The changing process forgets at once; every other one compares the token
at most every ``COHORT_ROUTING_REFRESH_MS``, on its next look-up, and forgets everything it
holds when it differs. With Redis unreachable or not configured, a process forgets every
refresh instead. A change made without signals (``QuerySet.update``, SQL) is seen when the
entry expires.
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from monolith.cohorts.config import routing_config
from monolith.cohorts.propagation import version_announce, version_read

VERSION_KEY = "edge-credentials-version"
# Tokens remembered per process; past this the oldest goes first. A process serves far fewer
# distinct clients within the entries' lifetime; the bound keeps a flood of tokens harmless.
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class EdgeCredential:
    """What the edge forwards for a token: the account and its role names, read at ``read_at``
    (this process's monotonic clock)."""

    account_id: UUID
    roles: frozenset[str]
    read_at: float


def credentials_version_read() -> str | None:
    """The announced version; None when Redis cannot say (forget every refresh)."""
    return version_read(VERSION_KEY, "edge's credentials")


def credentials_version_announce() -> None:
    """Tell every process that credentials changed (once the change is committed)."""
    version_announce(VERSION_KEY, "edge's credentials")


class CredentialCache:
    """One process's memory of token keys; ``clock`` is a monotonic clock in seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, EdgeCredential] = {}
        self._lock = threading.Lock()
        self._version: str | None = None
        self._checked_at = -math.inf
        self._forgot_at = -math.inf

    def lookup(self, key: str) -> EdgeCredential | None:
        """The credential kept for ``key``, unless it is older than the setting allows or a
        change was announced since it was read."""
        max_age: int = settings.FLEET_EDGE_AUTH_CACHE_SECONDS
        if max_age <= 0:
            return None
        now = self.clock()
        if now - self._checked_at >= routing_config().refresh_seconds:
            self._check(now)
        found = self._entries.get(key)
        if found is None or now - found.read_at >= max_age:
            return None
        return found

    def remember(
        self, key: str, account_id: UUID, roles: frozenset[str], *, read_at: float
    ) -> None:
        """Keep what was read for ``key``, started at ``read_at``: not if this process forgot
        since then (what was read may predate the change it forgot for)."""
        if settings.FLEET_EDGE_AUTH_CACHE_SECONDS <= 0:
            return
        with self._lock:
            if read_at <= self._forgot_at:
                return
            entries = self._entries
            if key not in entries and len(entries) >= MAX_ENTRIES:
                del entries[next(iter(entries))]
            entries[key] = EdgeCredential(account_id, roles, read_at)

    def forget(self) -> None:
        """Drop every entry, and refuse to keep anything read before now."""
        with self._lock:
            self._forget_locked(self.clock())

    def _forget_locked(self, now: float) -> None:
        self._entries = {}
        self._forgot_at = now

    def _check(self, now: float) -> None:
        with self._lock:
            if now - self._checked_at < routing_config().refresh_seconds:
                return  # another thread checked while this one waited for the lock
            version = credentials_version_read()
            if version is None or version != self._version:
                self._forget_locked(now)
                self._version = version
            self._checked_at = now


edge_credentials = CredentialCache()


def credentials_changed() -> None:
    """Announce a committed change of credentials to every process, this one first."""
    credentials_version_announce()
    edge_credentials.forget()


def request_token_key(request: HttpRequest) -> str | None:
    """The key of an ``Authorization: Token <key>`` header, read as DRF's
    ``TokenAuthentication`` reads it; None for any other header (DRF decides about those)."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "token":
        return None
    return parts[1]


def credential_user(credential: EdgeCredential) -> Any:
    """A user for the routing decision and the internal token only, never saved nor shown to a
    view: the account id, with the role names ``access.user_roles`` reads."""
    user = get_user_model()(pk=credential.account_id)
    user._fleet_roles = credential.roles  # type: ignore[attr-defined]
    return user
