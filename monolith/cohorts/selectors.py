"""Reading routing for the migration team: each module's stage, cohort, traffic and history.

These read the database (the truth right now), not a process's snapshot: they serve the
``cohort`` command and the admin, never a routed request.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from monolith.cohorts.models import RoutingChange, RoutingFlag
from monolith.cohorts.routing import Decision, module_routed, route_decide
from monolith.cohorts.rules import (
    BUCKETS,
    CohortRule,
    Reason,
    Side,
    cohort_bucket,
    cohort_line,
    route_flag_name,
)
from monolith.cohorts.services import RouteSettings, module_check, route_settings_of
from monolith.cohorts.snapshot import rules_load
from monolith.cohorts.traffic import ShadowCounts, SideTraffic, shadow_window, traffic_window
from monolith.platform.errors import NotFound
from monolith.platform.models import FeedPosition
from monolith.platform.outbox.mirror import mirrored_here
from monolith.platform.registry import fleet_modules


def percent_text(percent: Decimal | None) -> str:
    """10.00 -> "10%", 12.50 -> "12.5%"."""
    return f"{(percent or Decimal(0)).normalize():f}%"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def cohort_text(route: RouteSettings) -> str:
    """The cohort in a few words: "10% + 2 users + group beta-riders"."""
    parts = [percent_text(route.percent)]
    if route.usernames:
        parts.append(_plural(len(route.usernames), "user"))
    if route.groups:
        noun = "group" if len(route.groups) == 1 else "groups"
        parts.append(f"{noun} {', '.join(sorted(route.groups))}")
    return " + ".join(parts)


def stage_text(route: RouteSettings) -> str:
    """in monolith, shadow, partial N% (+ users, groups), or extracted."""
    if route.everyone is True:
        return "extracted"
    has_cohort = bool(route.percent or route.usernames or route.groups)
    if route.everyone is None and has_cohort:
        return f"partial {cohort_text(route)}" + (" (shadow on)" if route.shadow else "")
    stage = "shadow" if route.shadow else "in monolith"
    if has_cohort:
        stage += f" (cohort held back: {cohort_text(route)})"
    return stage


@dataclass(frozen=True)
class ModuleStatus:
    module: str
    routed_here: bool
    route: RouteSettings
    stage: str
    cohort_size: int
    accounts: int
    # Per side over the last minutes; None when no shared Redis holds the counts.
    traffic: dict[Side, SideTraffic] | None
    # Shadow reads over the same minutes; None when no shared Redis holds the counts.
    shadow: ShadowCounts | None
    last_change: RoutingChange | None
    # Whether the module's data is kept in step with its service here, and how far this
    # deployable has read the service's feed (None: never).
    mirrored: bool = False
    feed: FeedPosition | None = None

    @property
    def cohort_text(self) -> str:
        return f"{self.cohort_size} of {self.accounts} active accounts"

    @property
    def split_text(self) -> str:
        if self.traffic is None:
            return "— (no shared Redis to count in)"
        total = sum(side.requests for side in self.traffic.values())
        if not total:
            return "no requests in the window"
        shares = " · ".join(f"{side} {self.traffic[side].requests / total:.1%}" for side in Side)
        return f"{shares} of {total} requests"

    def side_text(self, side: Side) -> str:
        """Requests, error rate and p95 latency of one side over the window."""
        if self.traffic is None:
            return "—"
        traffic = self.traffic[side]
        if not traffic.requests:
            return "no requests"
        p95 = f"{traffic.p95_ms:.1f} ms" if traffic.p95_ms is not None else "—"
        return f"{traffic.requests} requests, {traffic.error_rate or 0:.1%} errors, p95 {p95}"

    @property
    def monolith_text(self) -> str:
        return self.side_text(Side.MONOLITH)

    @property
    def service_text(self) -> str:
        return self.side_text(Side.SERVICE)

    @property
    def data_text(self) -> str:
        """How far the service's writes have reached this side: "service's feed read 1.2 s
        ago: place 4,512, 12 events and 3,204 row changes taken in"."""
        if not self.mirrored:
            return "not mirrored (no service for it here)"
        feed = self.feed
        if feed is None or feed.pulled_at is None:
            return "mirrored; the service's feed not read yet (beat runs `events pull`)"
        age = (timezone.now() - feed.pulled_at).total_seconds()
        return (
            f"service's feed read {age:.1f} s ago: place {feed.position:,}, "
            f"{_plural(feed.received, 'event')} and {_plural(feed.applied, 'row change')} "
            "taken in"
        )

    @property
    def shadow_mismatch_rate(self) -> float | None:
        """Mismatches among the shadow reads compared over the window."""
        return self.shadow.mismatch_rate if self.shadow is not None else None

    @property
    def shadow_text(self) -> str:
        """On or off, and the mismatch rate over the window: "on, mismatches 2.5% (3 of 120
        compared, 1 error)"."""
        state = "on" if self.route.shadow else "off"
        counts = self.shadow
        if counts is None or counts == ShadowCounts():
            return f"{state}, mismatches —"
        rate = self.shadow_mismatch_rate
        details = [f"{counts.mismatched} of {counts.compared} compared"]
        if counts.errors:
            details.append(_plural(counts.errors, "error"))
        details.extend(
            f"{count} {fate}"
            for count, fate in ((counts.dropped, "dropped"), (counts.skipped, "skipped"))
            if count
        )
        mismatches = "—" if rate is None else f"{rate:.1%}"
        return f"{state}, mismatches {mismatches} ({', '.join(details)})"


def cohort_size(module: str) -> tuple[int, int]:
    """How many active accounts the flag sends to the service now, and how many there are.

    One query: the bucket is computed in PostgreSQL exactly as ``rules.cohort_bucket`` does.
    """
    flag = RoutingFlag.objects.filter(name=route_flag_name(module)).first()
    users = get_user_model()
    table = connection.ops.quote_name(users._meta.db_table)
    params: list[Any] = []
    if flag is None or flag.everyone is False:
        condition = "false"
    elif flag.everyone is True:
        condition = "true"
    else:
        named = connection.ops.quote_name(RoutingFlag.users.through._meta.db_table)
        targeted = connection.ops.quote_name(RoutingFlag.groups.through._meta.db_table)
        members = connection.ops.quote_name(users.groups.through._meta.db_table)
        line = cohort_line(flag.percent)
        condition = (
            f"u.id IN (SELECT user_id FROM {named} WHERE routingflag_id = %s)"  # noqa: S608
            f" OR u.id IN (SELECT m.user_id FROM {members} m JOIN {targeted} t"
            f" ON t.group_id = m.group_id WHERE t.routingflag_id = %s)"
            " OR (('x' || substr(encode(sha256(convert_to(%s || u.id::text, 'UTF8')), 'hex'),"
            f" 1, 8))::bit(32)::bigint %% {BUCKETS}) < %s"
        )
        params = [flag.pk, flag.pk, f"{flag.name}:", line]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE {condition}), count(*) FROM {table} u"  # noqa: S608
            " WHERE u.is_active",
            params,
        )
        in_cohort, accounts = cursor.fetchone()
    return int(in_cohort), int(accounts)


def cohort_status(module: str) -> ModuleStatus:
    """Where ``module`` stands: stage, cohort, traffic per side, last change."""
    module_check(module)
    flag = RoutingFlag.objects.filter(name=route_flag_name(module)).first()
    route = route_settings_of(flag)
    in_cohort, accounts = cohort_size(module)
    return ModuleStatus(
        module=module,
        routed_here=module_routed(module),
        route=route,
        stage=stage_text(route),
        cohort_size=in_cohort,
        accounts=accounts,
        traffic=traffic_window(module),
        shadow=shadow_window(module),
        last_change=RoutingChange.objects.filter(module=module).first(),
        mirrored=mirrored_here(module),
        feed=FeedPosition.objects.filter(publisher=module).order_by("-pulled_at").first(),
    )


def cohort_statuses() -> list[ModuleStatus]:
    return [cohort_status(config.label) for config in fleet_modules()]


@dataclass(frozen=True)
class CohortPlacement:
    """Which side serves one account for one module, and why, from the flag as it is now."""

    module: str
    username: str
    account_id: UUID
    decision: Decision
    # What the flag alone says (even where this deployable does not route the module).
    flag_decision: Decision
    bucket: int
    line: int


def cohort_who(module: str, username: str) -> CohortPlacement:
    module_check(module)
    user: Any = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"no account named {username!r}", field="user")
    flag_name = route_flag_name(module)
    rule: CohortRule | None = rules_load(names=[flag_name]).get(flag_name)
    flag_decision = route_decide(module, rule, user.pk)
    return CohortPlacement(
        module=module,
        username=username,
        account_id=user.pk,
        decision=flag_decision
        if module_routed(module)
        else Decision(module, Side.MONOLITH, Reason.NOT_ROUTED),
        flag_decision=flag_decision,
        bucket=cohort_bucket(flag_name, user.pk),
        line=rule.line if rule is not None else 0,
    )
