"""Pruning: relayed outbox rows and inbox rows past their retention, on every module's database.

Rows go in batches of ``FLEET_EVENTS_PRUNE_BATCH``, oldest first, one ``DELETE`` (its own
short transaction) per batch, so no lock is held for long and the relay and the deliveries
keep running beside it. An unrelayed outbox row is never deleted, whatever its age, nor the
one holding the outbox's last place in the feed; parked
deliveries are not touched: they wait for staff.

The retentions (``FLEET_OUTBOX_RETENTION_DAYS``, ``FLEET_INBOX_RETENTION_DAYS``) are explained
in ``monolith/settings/events.py``; an inbox is never pruned sooner than its setting allows,
even when a shorter retention is asked for, because deliveries rely on it (order per
aggregate, ``monolith.platform.outbox.order``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from monolith.platform.outbox.machinery import (
    inbox_modules,
    inbox_table,
    outbox_modules,
    outbox_table,
)
from monolith.platform.registry import module_database

DEFAULT_OUTBOX_RETENTION_DAYS = 7
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class TablePruned:
    """What pruning did (or, in a dry run, would do) to one table."""

    module: str
    kind: str  # "outbox" or "inbox"
    table: str
    database: str
    retention_days: int
    deleted: int
    finished: bool = True


Progress = Callable[[TablePruned], None]


def prune_retentions(older_than_days: int | None = None) -> tuple[int, int]:
    """The (outbox, inbox) retentions in days: the settings, or ``older_than_days`` for the
    outbox, with the inbox kept at least as long as both its setting and the outbox."""
    outbox = older_than_days or int(
        getattr(settings, "FLEET_OUTBOX_RETENTION_DAYS", DEFAULT_OUTBOX_RETENTION_DAYS)
    )
    inbox = int(getattr(settings, "FLEET_INBOX_RETENTION_DAYS", outbox))
    return outbox, max(outbox, inbox)


def events_prune(
    *,
    older_than_days: int | None = None,
    dry_run: bool = False,
    batch: int | None = None,
    progress: Progress | None = None,
) -> list[TablePruned]:
    """Delete (or with ``dry_run`` count) what is past retention, every outbox then every inbox.

    ``progress`` is called after each batch that deleted rows (``finished`` False, with the
    table's running total), then once per table when it is done.
    """
    batch = batch or int(getattr(settings, "FLEET_EVENTS_PRUNE_BATCH", DEFAULT_BATCH))
    outbox_days, inbox_days = prune_retentions(older_than_days)
    now = timezone.now()
    done = []
    for label in outbox_modules():
        table = outbox_table(label)
        cutoff = now - timedelta(days=outbox_days)
        # relayed_at < cutoff leaves out the unrelayed rows (NULL), however old.
        rows = table.objects.using(module_database(label)).filter(relayed_at__lt=cutoff)
        # The last place in the feed stays: the relay numbers on from it, and a reader who
        # has seen it must never find the numbering started again (``outbox.feed``).
        last = rows.model.objects.using(module_database(label)).order_by("-position")
        rows = rows.exclude(pk__in=last.filter(position__isnull=False).values("pk")[:1])
        done.append(_prune(label, "outbox", table, rows, outbox_days, dry_run, batch, progress))
    for label in inbox_modules():
        table = inbox_table(label)
        cutoff = now - timedelta(days=inbox_days)
        rows = table.objects.using(module_database(label)).filter(processed_at__lt=cutoff)
        done.append(_prune(label, "inbox", table, rows, inbox_days, dry_run, batch, progress))
    return done


_OLDEST_FIRST = {"outbox": "relayed_at", "inbox": "processed_at"}


def _prune(
    label: str,
    kind: str,
    table: Any,
    rows: Any,
    retention_days: int,
    dry_run: bool,
    batch: int,
    progress: Progress | None,
) -> TablePruned:
    database = module_database(label)

    def result(deleted: int, *, finished: bool = True) -> TablePruned:
        pruned = TablePruned(
            module=label,
            kind=kind,
            table=table._meta.db_table,
            database=database,
            retention_days=retention_days,
            deleted=deleted,
            finished=finished,
        )
        if progress is not None:
            progress(pruned)
        return pruned

    if dry_run:
        return result(rows.count())
    deleted = 0
    while True:
        # DELETE ... WHERE id IN (SELECT id ... ORDER BY ... LIMIT batch): one statement, a
        # transaction of its own, a bounded number of rows locked.
        chunk = rows.order_by(_OLDEST_FIRST[kind]).values("pk")[:batch]
        count, _ = table.objects.using(database).filter(pk__in=chunk).delete()
        deleted += count
        if count < batch:
            return result(deleted)
        result(deleted, finished=False)
