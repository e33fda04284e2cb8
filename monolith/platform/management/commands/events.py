"""Domain events: the registry of event types, parked deliveries, and pruning.

    python manage.py events                  every event type: version, publisher, subscribers,
                                             aggregate and fields (same as `events list`)
    python manage.py events parked           parked deliveries, in every subscriber's database
    python manage.py events resend           now, what the sweep does every 10 s: send again the
                                             deliveries relayed longer than
                                             FLEET_OUTBOX_RESEND_AFTER_SECONDS ago that no
                                             inbox shows (lost by the broker)
    python manage.py events pull             now, what beat does every FLEET_EVENT_PULL_SECONDS:
                                             read the outbox feeds of the other deployables
                                             (events, and row changes while a module is
                                             served in two places), and say where each stands
    python manage.py events prune            delete relayed outbox rows and inbox rows past
                                             their retention, in batches, on every database
    python manage.py events prune --dry-run  only count them
    python manage.py events prune --older-than DAYS
                                             outbox rows relayed over DAYS ago (inboxes keep
                                             at least FLEET_INBOX_RETENTION_DAYS)

The list reads the same registry as ``modules`` and the module map (each module's
``events.py`` and the subscriptions made in ``ready()``); nothing is declared twice.
"""

import argparse
import dataclasses
import typing
from typing import Any

from django.core.management.base import CommandError, CommandParser

from monolith.platform import events
from monolith.platform.boundaries.module_map import module_cards
from monolith.platform.management.one_line_errors import OneLineErrorsCommand
from monolith.platform.outbox import pruning
from monolith.platform.outbox.machinery import (
    aggregate_field_of,
    delivery_sender,
    inbox_modules,
    outbox_modules,
    outbox_resend_run,
    parked_table,
)
from monolith.platform.registry import module_database

ACTIONS = ("list", "parked", "prune", "pull", "resend")
ERROR_WIDTH = 120


class Command(OneLineErrorsCommand):
    help = "List the event types and who handles them, show parked deliveries, prune old rows."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action", nargs="?", default="list", choices=ACTIONS, help="what to do (default: list)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="prune: count what would go, delete nothing"
        )
        parser.add_argument(
            "--older-than",
            metavar="DAYS",
            type=_days,
            help="prune: outbox rows relayed more than DAYS days ago (a whole number, at "
            "least 1; default FLEET_OUTBOX_RETENTION_DAYS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action != "prune" and (options["dry_run"] or options["older_than"] is not None):
            raise CommandError("--dry-run and --older-than apply to prune only")
        if action == "list":
            self.events_list()
        elif action == "parked":
            self.events_parked()
        elif action == "resend":
            self.events_resend()
        elif action == "pull":
            self.events_pull()
        else:
            self.events_prune(options["older_than"], dry_run=options["dry_run"])

    def events_list(self) -> None:
        found = [
            info
            for card in module_cards(imports=())  # the import graph is not needed here
            for info in card.publishes
        ]
        for index, info in enumerate(sorted(found, key=lambda info: info.name)):
            event_type = events.event_type_named(info.name)
            if index:
                self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING(f"{info.name} v{info.version}"))
            for heading, value in (
                ("publisher", info.publisher),
                ("subscribers", ", ".join(info.subscribers) or "none"),
                ("aggregate", aggregate_field_of(event_type) or "none (no order kept)"),
                ("fields", _fields(event_type)),
            ):
                self.stdout.write(f"  {heading + ':':<13}{value}")
        subscriptions = sum(len(info.subscribers) for info in found)
        self.stdout.write(f"\n{len(found)} event types, {subscriptions} subscriptions.")

    def events_parked(self) -> None:
        total = waiting = 0
        for label in inbox_modules():
            rows = (
                parked_table(label)
                .objects.using(module_database(label))
                .order_by("parked_at", "id")
            )
            for row in rows:
                total += 1
                waiting += row.retried_at is None
                retried = f", retried {row.retried_at:%Y-%m-%d %H:%M:%S}" if row.retried_at else ""
                error = row.last_error.splitlines()[0] if row.last_error else ""
                if len(error) > ERROR_WIDTH:
                    error = error[: ERROR_WIDTH - 1] + "…"
                self.stdout.write(
                    f"{label}: {row.event_name} {row.event_id} from {row.publisher}, "
                    f"{row.attempts} attempts, parked {row.parked_at:%Y-%m-%d %H:%M:%S}{retried}"
                    f"\n    {error}"
                )
        self.stdout.write(
            f"{total} parked deliveries, {waiting} not retried "
            f"(retry them in the admin once their cause is fixed)."
        )

    def events_resend(self) -> None:
        resent = 0
        with delivery_sender() as send:
            for label in outbox_modules():
                result = outbox_resend_run(label, send=send)
                resent += result.resent
                self.stdout.write(
                    f"{label}: {result.checked} relayed events past the window checked, "
                    f"{result.completed} handled by every subscriber, "
                    f"{result.resent} deliveries sent again"
                )
        self.stdout.write(self.style.SUCCESS(f"{resent} deliveries sent again in all."))

    def events_pull(self) -> None:
        from monolith.platform.outbox.feed import feeds_pull

        done = feeds_pull()
        if not done:
            self.stdout.write(
                "No feeds to read: this deployable serves every module itself and no module "
                "has a service (FLEET_SERVICE_URL_<LABEL>)."
            )
            return
        for pulled in done:
            where = f"{pulled.source.publisher} at {pulled.source.base_url}"
            if pulled.error:
                self.stderr.write(f"{where}: not read: {pulled.error}")
                continue
            self.stdout.write(
                f"{where} ({', '.join(sorted(pulled.source.kinds))}): {pulled.received} events "
                f"taken in, {pulled.applied} row changes applied, {pulled.skipped} events with no "
                f"subscriber here; now at place {pulled.position}"
            )
        if any(pulled.error for pulled in done):
            raise CommandError("some feeds were not read (above); the next pull tries again")

    def events_prune(self, older_than_days: int | None, *, dry_run: bool) -> None:
        verb = "would delete" if dry_run else "deleted"

        def progress(table: pruning.TablePruned) -> None:
            where = f"{table.table} ({table.database})"
            if not table.finished:
                self.stdout.write(f"  {where}: {table.deleted} deleted so far")
                return
            what = "relayed" if table.kind == "outbox" else "processed"
            self.stdout.write(
                f"{where}: {verb} {table.deleted} rows {what} more than "
                f"{table.retention_days} days ago"
            )

        tables = pruning.events_prune(
            older_than_days=older_than_days, dry_run=dry_run, progress=progress
        )
        total = sum(table.deleted for table in tables)
        done = "Dry run" if dry_run else "Pruned"
        self.stdout.write(
            self.style.SUCCESS(f"{done}, {len(tables)} tables: {verb} {total} rows in all.")
        )


def _days(raw: str) -> int:
    try:
        days = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of days") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 day, not {days}")
    return days


def _fields(event_type: type[events.DomainEvent]) -> str:
    hints = typing.get_type_hints(event_type)
    return ", ".join(
        f"{field.name}: {_type_name(hints.get(field.name))}"
        for field in dataclasses.fields(event_type)
    )


def _type_name(kind: Any) -> str:
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")
