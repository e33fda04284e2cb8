"""Route users between the monolith and a module's extracted service, for the migration team.

    python manage.py cohort status [module]
    python manage.py cohort route <module> (--percent N | --everyone | --nobody)
        [--add-user U ...] [--remove-user U ...] [--add-group G ...] [--remove-group G ...]
        --by <username> --reason "..."
    python manage.py cohort shadow <module> on|off --by <username> --reason "..."
    python manage.py cohort who <module> <username>
    python manage.py cohort prune [--older-than DAYS]

``status`` shows, per module: its stage (in monolith, shadow, partial N%, extracted), the
cohort's size, the traffic split, error rate and p95 latency per side over the last minutes,
and the shadow mismatch rate. ``route`` and ``shadow`` change routing as ``--by`` (a member of
the migration team) and record the change with its reason; every process follows within the
propagation bound. ``who`` says which side serves an account, and why. ``prune`` deletes shadow
mismatches recorded more than ``COHORT_SHADOW_RETENTION_DAYS`` (or DAYS) days ago. Bad input is
one line.
"""

import argparse
from dataclasses import replace
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monolith.cohorts.rules import BUCKETS, Reason, Side
from monolith.cohorts.selectors import (
    CohortPlacement,
    cohort_status,
    cohort_statuses,
    cohort_who,
    percent_text,
    stage_text,
)
from monolith.cohorts.services import (
    CohortChange,
    RouteSettings,
    cohort_change,
    module_check,
    percent_clean,
)
from monolith.cohorts.shadow import shadow_mismatches_prune
from monolith.platform.errors import FleetError

REASONS = {
    Reason.NOT_ROUTED: "this deployable does not route {module} (COHORT_ROUTED_MODULES)",
    Reason.NOBODY: "{module} routes nobody to its service",
    Reason.EVERYONE: "{module} is routed to its service for everyone",
    Reason.USER: "named in {module}'s cohort",
    Reason.GROUP: "member of a group in {module}'s cohort",
    Reason.PERCENT: "bucket {bucket} is below the line {line} ({percent})",
    Reason.OUTSIDE: "not in {module}'s cohort (bucket {bucket}, line {line})",
    Reason.ANONYMOUS: "anonymous",
}


class OneLineCommandParser(CommandParser):
    """Bad arguments on the command line: one line saying what is wrong, no usage dump."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message}\n")
        raise CommandError(message)


def _days_argument(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"DAYS must be a whole number of at least 1, not {value!r}"
        )
    return int(value)


def _percent_argument(value: str) -> Any:
    try:
        return percent_clean(value)
    except FleetError as error:
        raise argparse.ArgumentTypeError(error.message) from None


class Command(BaseCommand):
    help = (
        "Cohort routing between the monolith and extracted services: status, route, shadow, "
        "who, prune."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # The sub-commands below are made one-line parsers; the top level becomes one too.
        parser.__class__ = OneLineCommandParser
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{status,route,shadow,who,prune}",
            parser_class=OneLineCommandParser,
        )  # fmt: skip
        status = actions.add_parser("status", help="each module's stage, cohort and traffic")
        status.add_argument("module", nargs="?", help="one module (default: all)")

        route = actions.add_parser("route", help="change who the module's service serves")
        route.add_argument("module")
        target = route.add_mutually_exclusive_group()
        target.add_argument(
            "--percent", type=_percent_argument, help="a sticky share of accounts, 0 to 100"
        )
        target.add_argument("--everyone", action="store_true", help="everyone (extracted)")
        target.add_argument("--nobody", action="store_true", help="nobody (roll back)")
        for option, noun in (("user", "username"), ("group", "group name")):
            for verb in ("add", "remove"):
                route.add_argument(
                    f"--{verb}-{option}",
                    action="append",
                    default=[],
                    metavar=noun.upper().replace(" ", "_"),
                    help=f"{verb} a {option} to/from the cohort (repeatable)",
                )
        self._audit_arguments(route)

        shadow = actions.add_parser("shadow", help="turn shadow mode on or off")
        shadow.add_argument("module")
        shadow.add_argument("state", choices=("on", "off"))
        self._audit_arguments(shadow)

        who = actions.add_parser("who", help="which side serves an account, and why")
        who.add_argument("module")
        who.add_argument("username")

        prune = actions.add_parser("prune", help="delete old shadow mismatches")
        prune.add_argument(
            "--older-than",
            type=_days_argument,
            metavar="DAYS",
            help="recorded more than DAYS days ago (default COHORT_SHADOW_RETENTION_DAYS)",
        )

    @staticmethod
    def _audit_arguments(parser: CommandParser) -> None:
        parser.add_argument("--by", required=True, help="your username (migration team)")
        parser.add_argument("--reason", required=True, help="why routing changes (audited)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except FleetError as error:
            raise CommandError(error.message) from None

    def _status(self, options: dict[str, Any]) -> None:
        module = options["module"]
        statuses = [cohort_status(module_check(module))] if module else cohort_statuses()
        for status in statuses:
            routed = "" if status.routed_here else "  (not routed by this deployable)"
            self.stdout.write(f"{status.module}: {status.stage}{routed}")
            rows = [
                ("cohort", status.cohort_text),
                ("traffic", status.split_text),
                *((f"  {side}", status.side_text(side)) for side in Side),
                ("shadow", status.shadow_text),
                ("data", status.data_text),
            ]
            if status.last_change is not None:
                change = status.last_change
                rows.append(
                    (
                        "changed",
                        f"{change.changed_at:%Y-%m-%d %H:%M:%S} by {change.changed_by_username}: "
                        f"{change.reason}",
                    )
                )
            for label, value in rows:
                self.stdout.write(f"  {label:<10} {value}")

    def _by(self, options: dict[str, Any]) -> Any:
        user = get_user_model().objects.filter(username=options["by"]).first()
        if user is None:
            raise CommandError(f"no account named {options['by']!r} (--by)")
        return user

    def _apply(self, options: dict[str, Any], change: CohortChange) -> None:
        module = module_check(options["module"])
        record = cohort_change(
            module=module, change=change, by=self._by(options), reason=options["reason"]
        )
        if record is None:
            self.stdout.write(f"{module}: nothing to change; nothing recorded.")
            return
        before = RouteSettings.from_record(record.before)
        after = RouteSettings.from_record(record.after)
        self.stdout.write(
            f"{module}: {stage_text(before)} → {stage_text(after)} "
            f"(change #{record.pk}, by {record.changed_by_username})"
        )

    def _route(self, options: dict[str, Any]) -> None:
        everyone: Any = True if options["everyone"] else False if options["nobody"] else None
        change = CohortChange(
            add_usernames=frozenset(options["add_user"]),
            remove_usernames=frozenset(options["remove_user"]),
            add_groups=frozenset(options["add_group"]),
            remove_groups=frozenset(options["remove_group"]),
        )
        if everyone is not None:
            change = replace(change, everyone=everyone)
        if options["percent"] is not None:
            change = replace(change, percent=options["percent"])
        if change == CohortChange():
            raise CommandError(
                "say what to change: --percent, --everyone, --nobody, --add-user, "
                "--remove-user, --add-group or --remove-group"
            )
        self._apply(options, change)

    def _shadow(self, options: dict[str, Any]) -> None:
        self._apply(options, CohortChange(shadow=options["state"] == "on"))

    def _who(self, options: dict[str, Any]) -> None:
        placement: CohortPlacement = cohort_who(options["module"], options["username"])
        self.stdout.write(
            f"{placement.username} → {placement.decision.side.value} for {placement.module}: "
            + _reason_text(placement)
        )
        if placement.decision.reason is Reason.NOT_ROUTED:
            self.stdout.write(f"  the flag alone says: {_reason_text(placement, flag=True)}")

    def _prune(self, options: dict[str, Any]) -> None:
        days = options["older_than"] or settings.COHORT_SHADOW_RETENTION_DAYS
        deleted = shadow_mismatches_prune(older_than_days=days)
        self.stdout.write(f"shadow mismatches recorded over {days} days ago: {deleted} deleted.")


def _reason_text(placement: CohortPlacement, *, flag: bool = False) -> str:
    decision = placement.flag_decision if flag else placement.decision
    text = REASONS[decision.reason].format(
        module=placement.module,
        bucket=placement.bucket,
        line=placement.line,
        percent=percent_text(Decimal(placement.line) / (BUCKETS // 100)),
    )
    if flag:
        text = f"{decision.side.value} ({text})"
    if decision.shadow:
        text += "; shadow mode compares its reads with the service"
    return text
