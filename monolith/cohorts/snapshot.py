"""Each process's copy of every routing flag, refreshed within a bounded time of any change.

A decision reads this copy and nothing else: no query per request. A change made anywhere
writes a new version token to Redis once its transaction commits (``propagation``); each
process compares the token at most every ``COHORT_ROUTING_REFRESH_MS`` (on the first decision
after that much time, so an idle process is never behind when it next decides) and reloads from
the database when it differs. With Redis unreachable or not configured, the process reloads
from the database every refresh instead: still bounded, at one small load per refresh. And it
reloads every ``COHORT_ROUTING_MAX_AGE_SECONDS`` whatever the token says, in case an
announcement was lost.

Group targets are resolved to their members' account ids at load time, so a decision never
reads the user's groups; a change of membership in a targeted group announces a new version
(``signals``).
"""

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth import get_user_model

from monolith.cohorts.config import routing_config
from monolith.cohorts.models import RoutingFlag
from monolith.cohorts.propagation import routing_version_announce, routing_version_read
from monolith.cohorts.rules import ROUTE_PREFIX, CohortRule, cohort_line


@dataclass(frozen=True)
class RoutingSnapshot:
    token: str | None
    rules: Mapping[str, CohortRule]
    loaded_at: float
    checked_at: float


_lock = threading.Lock()
_current: RoutingSnapshot | None = None


def rules_load(*, names: Iterable[str] | None = None) -> dict[str, CohortRule]:
    """Read routing flags (all ``route.*``, or the named ones) and resolve their targets.

    At most four queries whatever the number of flags, users and groups.
    """
    flags = RoutingFlag.objects.all()
    flags = flags.filter(name__in=list(names)) if names is not None else flags
    rows = list(
        flags.filter(name__startswith=ROUTE_PREFIX).values(
            "id", "name", "everyone", "percent", "shadow"
        )
    )
    if not rows:
        return {}
    ids = [row["id"] for row in rows]
    users: dict[int, set[UUID]] = defaultdict(set)
    for flag_id, user_id in RoutingFlag.users.through._default_manager.filter(
        routingflag_id__in=ids
    ).values_list("routingflag_id", "user_id"):
        users[flag_id].add(user_id)
    groups: dict[int, set[int]] = defaultdict(set)
    for flag_id, group_id in RoutingFlag.groups.through._default_manager.filter(
        routingflag_id__in=ids
    ).values_list("routingflag_id", "group_id"):
        groups[flag_id].add(group_id)
    members: dict[int, set[UUID]] = defaultdict(set)
    targeted = set().union(*groups.values())
    if targeted:
        for group_id, user_id in (
            get_user_model()
            .groups.through._default_manager.filter(group_id__in=targeted)
            .values_list("group_id", "user_id")
        ):
            members[group_id].add(user_id)
    return {
        row["name"]: CohortRule(
            flag=row["name"],
            everyone=row["everyone"],
            line=cohort_line(row["percent"]),
            user_ids=frozenset(users[row["id"]]),
            group_member_ids=frozenset(
                account for group in groups[row["id"]] for account in members[group]
            ),
            group_ids=frozenset(groups[row["id"]]),
            shadow=row["shadow"],
        )
        for row in rows
    }


def routing_rules() -> Mapping[str, CohortRule]:
    """Every routing flag's rule, as this process knows it (at most one refresh old)."""
    snapshot = _current
    now = time.monotonic()
    if snapshot is not None and now - snapshot.checked_at < routing_config().refresh_seconds:
        return snapshot.rules
    with _lock:
        return _refresh(time.monotonic()).rules


def _refresh(now: float) -> RoutingSnapshot:
    global _current
    snapshot = _current
    if snapshot is not None and now - snapshot.checked_at < routing_config().refresh_seconds:
        return snapshot  # another thread refreshed while this one waited for the lock
    # The token is read before the flags: a change announced after this read is seen next time.
    token = routing_version_read()
    if (
        snapshot is not None
        and token is not None
        and token == snapshot.token
        and now - snapshot.loaded_at < routing_config().max_age_seconds
    ):
        _current = RoutingSnapshot(snapshot.token, snapshot.rules, snapshot.loaded_at, now)
    else:
        _current = RoutingSnapshot(token, rules_load(), now, now)
    return _current


def routing_snapshot_forget() -> None:
    """Drop this process's copy: the next decision loads the flags again."""
    global _current
    with _lock:
        _current = None


def routing_snapshot_token() -> str | None:
    """The version this process routes by (None before the first load, or without Redis)."""
    snapshot = _current
    return snapshot.token if snapshot is not None else None


def routing_changed() -> None:
    """Announce a committed routing change to every process, this one first."""
    routing_version_announce()
    routing_snapshot_forget()
