"""Changing a module's routing: checked, applied and audited in one transaction, then announced.

``cohort_change`` is the only way routing flags change (the model refuses other writes): the
``cohort`` command and the admin's cohort routing page both call it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from monolith.cohorts.errors import RoutingForbidden
from monolith.cohorts.models import RoutingChange, RoutingFlag, routing_change_opened
from monolith.cohorts.rules import route_flag_name
from monolith.cohorts.snapshot import routing_changed
from monolith.platform.access import Role, user_roles
from monolith.platform.errors import InvalidRequest, NotFound
from monolith.platform.registry import fleet_modules


@dataclass(frozen=True)
class RouteSettings:
    """A module's routing as the migration team sets it (and as the audit records it).

    ``everyone``: True sends everyone to the service, False nobody (a rollback: the cohort is
    kept, inactive), None lets the cohort decide: ``usernames``, members of ``groups`` and a
    sticky ``percent`` of all accounts.
    """

    everyone: bool | None = None
    percent: Decimal | None = None
    usernames: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    shadow: bool = False

    def as_record(self) -> dict[str, Any]:
        return {
            "everyone": self.everyone,
            "percent": None if self.percent is None else str(self.percent),
            "users": sorted(self.usernames),
            "groups": sorted(self.groups),
            "shadow": self.shadow,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "RouteSettings":
        """The settings an audit record's ``before`` or ``after`` holds."""
        percent = record["percent"]
        return cls(
            everyone=record["everyone"],
            percent=None if percent is None else Decimal(percent),
            usernames=frozenset(record["users"]),
            groups=frozenset(record["groups"]),
            shadow=record["shadow"],
        )


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


@dataclass(frozen=True)
class CohortChange:
    """What to change; everything left out stays as it is.

    Naming a cohort (a percent, users or groups) makes the cohort decide again (everyone is
    set back to None) unless ``everyone`` is given too.
    """

    everyone: bool | None = KEEP
    percent: Decimal | None = KEEP
    usernames: frozenset[str] | None = None  # the whole list, replacing the current one
    add_usernames: frozenset[str] = frozenset()
    remove_usernames: frozenset[str] = frozenset()
    groups: frozenset[str] | None = None
    add_groups: frozenset[str] = frozenset()
    remove_groups: frozenset[str] = frozenset()
    shadow: bool | None = None

    @property
    def names_a_cohort(self) -> bool:
        return (
            self.percent is not KEEP
            or self.usernames is not None
            or self.groups is not None
            or bool(self.add_usernames or self.add_groups)
        )

    def applied_to(self, current: RouteSettings) -> RouteSettings:
        usernames = set(current.usernames if self.usernames is None else self.usernames)
        groups = set(current.groups if self.groups is None else self.groups)
        everyone = current.everyone
        if self.everyone is not KEEP:
            everyone = self.everyone
        elif self.names_a_cohort:
            everyone = None
        return replace(
            current,
            everyone=everyone,
            percent=current.percent if self.percent is KEEP else self.percent,
            usernames=frozenset((usernames | self.add_usernames) - self.remove_usernames),
            groups=frozenset((groups | self.add_groups) - self.remove_groups),
            shadow=current.shadow if self.shadow is None else self.shadow,
        )


def module_check(module: str) -> str:
    """``module`` if it is a fleet module; otherwise one sentence naming the ones there are."""
    labels = [config.label for config in fleet_modules()]
    if module not in labels:
        raise NotFound(
            f"unknown module {module!r} (fleet modules: {', '.join(labels)})", field="module"
        )
    return module


def percent_clean(value: Decimal | str | int | float | None) -> Decimal | None:
    """A cohort percentage: 0 to 100, at most two decimals (a bucket is 0.01%)."""
    if value is None:
        return None
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"percent must be a number, not {value!r}", field="percent") from None
    exponent = percent.as_tuple().exponent
    if not percent.is_finite() or not Decimal(0) <= percent <= Decimal(100):
        raise InvalidRequest(f"percent must be between 0 and 100 (got {value})", field="percent")
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidRequest(f"percent takes at most two decimals (got {value})", field="percent")
    return percent.quantize(Decimal("0.01"))


def routing_may_change(user: Any) -> bool:
    """Only active members of the migration team may change routing."""
    return bool(getattr(user, "is_active", False) and Role.MIGRATION_TEAM.value in user_roles(user))


def route_settings_of(flag: RoutingFlag | None) -> RouteSettings:
    if flag is None or flag.pk is None:
        return RouteSettings()
    return RouteSettings(
        everyone=flag.everyone,
        percent=flag.percent,
        usernames=frozenset(flag.users.values_list("username", flat=True)),
        groups=frozenset(flag.groups.values_list("name", flat=True)),
        shadow=flag.shadow,
    )


def _accounts_named(usernames: Iterable[str]) -> list[Any]:
    wanted = set(usernames)
    found = list(get_user_model().objects.filter(username__in=wanted))
    missing = sorted(wanted - {user.username for user in found})
    if missing:
        raise NotFound(f"no account named {missing[0]!r}", field="users")
    return found


def _groups_named(names: Iterable[str]) -> list[Group]:
    wanted = set(names)
    found = list(Group.objects.filter(name__in=wanted))
    missing = sorted(wanted - {group.name for group in found})
    if missing:
        raise NotFound(f"no group named {missing[0]!r}", field="groups")
    return found


def cohort_change(
    *, module: str, change: CohortChange, by: Any, reason: str
) -> RoutingChange | None:
    """Apply ``change`` to ``module``'s routing as ``by``, for ``reason``; audit it.

    The flag and its audit record are written in one transaction, with the flag's row locked,
    so two changes at once apply one after the other; every process learns of it once it is
    committed. Returns the audit record, or None when nothing would change (nothing recorded).
    """
    module_check(module)
    if not routing_may_change(by):
        raise RoutingForbidden(
            f"only the migration team may change routing; {by.get_username()!r} is not in the "
            f"{Role.MIGRATION_TEAM.value} group"
        )
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("a reason is required: say why routing changes", field="reason")
    if change.percent is not KEEP:
        change = replace(change, percent=percent_clean(change.percent))
    # Every name the change mentions must exist, even one it only removes.
    _accounts_named(change.add_usernames | change.remove_usernames | (change.usernames or set()))
    _groups_named(change.add_groups | change.remove_groups | (change.groups or set()))
    name = route_flag_name(module)
    with transaction.atomic(), routing_change_opened():
        flag = RoutingFlag.objects.select_for_update().filter(name=name).first()
        if flag is None and change.applied_to(RouteSettings()) != RouteSettings():
            RoutingFlag.objects.get_or_create(
                name=name, defaults={"note": f"Routes the {module} module."}
            )
            flag = RoutingFlag.objects.select_for_update().get(name=name)
        before = route_settings_of(flag)
        after = change.applied_to(before)
        if flag is None or after == before:
            return None
        flag.everyone = after.everyone
        flag.percent = after.percent
        flag.shadow = after.shadow
        flag.save()
        flag.users.set(_accounts_named(after.usernames))
        flag.groups.set(_groups_named(after.groups))
        record = RoutingChange.objects.create(
            module=module,
            changed_by=by,
            changed_by_username=by.get_username(),
            before=before.as_record(),
            after=after.as_record(),
            reason=reason,
        )
        transaction.on_commit(routing_changed)
    return record
