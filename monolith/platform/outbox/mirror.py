"""Mirroring: a module's row changes, captured in its outbox, applied on the other side.

While a cohort is moved, the module's data lives in two databases, the monolith's and its
service's, and each account's writes go to one of them (ARCHITECTURE.md, "Data during a
migration"). Each side captures every change to the module's own tables and the other side
applies it, so flipping a cohort back finds every trip it made in the service already in the
monolith, and widening it finds the new riders' history already in the service.

- **Capture** is a PostgreSQL trigger on each of the module's tables (``mirror_install``):
  ``AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW``, writing the whole row as JSON into
  the module's outbox as a ``<module>.RowChanged`` row, in the transaction of the change. A
  trigger, not a Django signal: ``QuerySet.update()``, bulk writes and raw SQL are captured
  too. An update that changes nothing is not.
- **Transport** is the outbox feed (``outbox.feed``): positions in commit order, pulled over
  the signed internal path.
- **Apply** (``row_changes_apply``) upserts the row from its JSON (``jsonb_populate_record``,
  so every column keeps its type) or deletes it, with ``fleet.applying_row_changes`` set for
  the transaction so the other side's own trigger does not send it back. Applying the same
  change twice leaves the same row.

Not mirrored: the outbox (the channel itself), the inbox and the parked deliveries (each
side's record of its own deliveries). Applying follows each side's commit order; if both
sides wrote the same row in the moment a cohort flips, the later-applied write wins on each
side (docs/extraction.md, "Keeping both sides in step").
"""

import json
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.db import connections
from django.db.models import Max, Model

from monolith.platform.models import FeedPosition
from monolith.platform.outbox.machinery import (
    inbox_table,
    outbox_table,
    parked_table,
    row_change_name,
)
from monolith.platform.outbox.order import DeliveryWaits
from monolith.platform.registry import FleetModuleConfig, module_database

TRIGGER = "fleet_row_changed"
# Set for a transaction that applies the other side's changes: its writes are not captured.
APPLYING_SETTING = "fleet.applying_row_changes"

_CAPTURE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $capture$
DECLARE
    changed jsonb;
BEGIN
    IF current_setting('{APPLYING_SETTING}', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        changed := to_jsonb(OLD);
    ELSE
        changed := to_jsonb(NEW);
    END IF;
    -- clock_timestamp: a transaction's changes keep their order in the outbox.
    EXECUTE format(
        'INSERT INTO %I (id, name, version, aggregate_id, payload, occurred_at, origin) '
        'VALUES ($1, $2, 1, $3, $4, clock_timestamp(), '''')',
        TG_ARGV[0]
    ) USING
        gen_random_uuid(),
        TG_ARGV[1],
        left(changed ->> TG_ARGV[2], 64),
        jsonb_build_object(
            'table', TG_TABLE_NAME,
            'op', CASE WHEN TG_OP = 'DELETE' THEN 'delete' ELSE 'upsert' END,
            'row', changed
        );
    RETURN NULL;
END
$capture$
"""


class RowChangeRefused(Exception):
    """A row change this deployable cannot apply; the message is the one line to log."""


def mirrored_models(label: str) -> list[type[Model]]:
    """The module's tables that are mirrored: all it owns but its event bookkeeping."""
    bookkeeping: set[Any] = {outbox_table(label)}
    for table in (inbox_table, parked_table):
        with suppress(LookupError):  # a module that subscribes to nothing has neither
            bookkeeping.add(table(label))
    return [
        model
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and not model._meta.proxy and model not in bookkeeping
    ]


def mirrored_here(label: str) -> bool:
    """Whether ``label``'s data is kept in step with another deployable's copy: in a service,
    the module it serves; in the monolith, each module with a service
    (``FLEET_SERVICE_URL_<LABEL>``)."""
    served_here: str = getattr(settings, "FLEET_SERVICE_MODULE", "")
    if served_here:
        return label == served_here
    return label in getattr(settings, "FLEET_SERVICE_URLS", {})


class CopyBehind(DeliveryWaits):
    """A reaction in a mirrored module waits for this side's copy to be as fresh as its event.

    The other side's writes arrive by the feed, so a reaction run at once could miss a row
    written there just before the event (a trip booked in the service a second before its
    vehicle went offline, say). It waits, like a delivery waiting for its predecessor (the
    same polling, parked after ``FLEET_EVENT_ORDER_MAX_WAIT_SECONDS``), until a read of the
    other side's feed that began after the event occurred has reached its end.
    """

    def __init__(self, *, subscriber: str, occurred_at: datetime, read_at: datetime | None):
        self.subscriber = subscriber
        self.after = None  # type: ignore[assignment]  # waits for no predecessor
        self.parked = False
        read = f"last read to its end at {read_at.isoformat()}" if read_at else "never read"
        Exception.__init__(
            self,
            f"waits until the {subscriber} copy here has the other side's writes up to "
            f"{occurred_at.isoformat()}, when the event occurred (its feed {read}): a "
            "reaction runs on data at least as fresh as its event",
        )


def copy_behind(subscriber: str, *, publisher: str, event_id: str) -> CopyBehind | None:
    """Why a delivery to ``subscriber`` must wait for its copy to catch up, or None: it need
    not (the module is not mirrored here, or the copy was read past the event)."""
    if not mirrored_here(subscriber):
        return None
    occurred_at = (
        outbox_table(publisher)
        .objects.using(module_database(publisher))
        .filter(pk=event_id)
        .values_list("occurred_at", flat=True)
        .first()
    )
    if occurred_at is None:
        return None  # pruned: long past any feed read
    read_at = (
        FeedPosition.objects.using(module_database(subscriber))
        .filter(publisher=subscriber)
        .aggregate(read_at=Max("pulled_at"))["read_at"]
    )
    if read_at is not None and read_at >= occurred_at:
        return None
    return CopyBehind(subscriber=subscriber, occurred_at=occurred_at, read_at=read_at)


def mirror_sync(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After ``migrate`` (``post_migrate``): capture a module's changes exactly while it is
    mirrored here, so the triggers follow the configuration and every new table."""
    if not isinstance(sender, FleetModuleConfig) or using != module_database(sender.label):
        return
    try:
        outbox_table(sender.label)
    except LookupError:
        return  # publishes nothing, so has no channel to mirror through
    if mirrored_here(sender.label):
        mirror_install(sender.label)
    else:
        mirror_remove(sender.label)


def mirror_install(label: str) -> list[str]:
    """Capture ``label``'s row changes from now on (idempotent); the tables it covers."""
    database = module_database(label)
    connection = connections[database]
    quote = connection.ops.quote_name
    outbox = outbox_table(label)._meta.db_table
    tables = []
    with connection.cursor() as cursor:
        cursor.execute(_CAPTURE_FUNCTION)
        for model in mirrored_models(label):
            table = model._meta.db_table
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quote(table)}")
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {quote(table)} "
                f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}(%s, %s, %s)"
                % (
                    _literal(outbox),
                    _literal(row_change_name(label)),
                    _literal(model._meta.pk.column),
                )
            )
            tables.append(table)
    return tables


def mirror_remove(label: str) -> list[str]:
    """Stop capturing ``label``'s row changes (idempotent); the tables it covered."""
    connection = connections[module_database(label)]
    tables = [model._meta.db_table for model in mirrored_models(label)]
    with connection.cursor() as cursor:
        with_trigger = _tables_with_trigger(cursor, tables)
        removed = [table for table in tables if table in with_trigger]
        for table in removed:
            cursor.execute(f"DROP TRIGGER {TRIGGER} ON {connection.ops.quote_name(table)}")
    return removed


def mirror_installed(label: str) -> list[str]:
    """The tables of ``label`` whose changes are captured now."""
    tables = [model._meta.db_table for model in mirrored_models(label)]
    with connections[module_database(label)].cursor() as cursor:
        return sorted(_tables_with_trigger(cursor, tables))


def _tables_with_trigger(cursor: Any, tables: Iterable[str]) -> set[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = %s AND c.relname = ANY(%s) AND pg_table_is_visible(c.oid)",
        [TRIGGER, list(tables)],
    )
    return {row[0] for row in cursor.fetchall()}


def _literal(text: str) -> str:
    # Trigger arguments are literals in the DDL (no parameters there); names are ours.
    return "'" + text.replace("'", "''") + "'"


def row_changes_apply(label: str, changes: Iterable[dict[str, Any]]) -> int:
    """Apply row changes (``{"table", "op", "row"}``) to ``label``'s tables, in the caller's
    transaction on the module's database, uncaptured; how many were applied.

    Raises ``RowChangeRefused`` for a table that is not one of the module's mirrored tables
    or an operation it does not know: nothing of the batch is applied then.
    """
    connection = connections[module_database(label)]
    quote = connection.ops.quote_name
    models = {model._meta.db_table: model for model in mirrored_models(label)}
    # Checked whole before anything is written: table and column names in the statements
    # below come from the module's models, never from the change.
    checked = []
    for change in changes:
        model = models.get(change.get("table", ""))
        if model is None:
            raise RowChangeRefused(
                f"a row change names table {change.get('table')!r}, which is not one of "
                f"the {label} module's mirrored tables here"
            )
        if change.get("op") not in ("upsert", "delete"):
            raise RowChangeRefused(f"a row change has an unknown op {change.get('op')!r}")
        checked.append((model, change["op"], json.dumps(change.get("row"))))
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [APPLYING_SETTING])
        for model, op, row in checked:
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            if op == "upsert":
                cursor.execute(_upsert_sql(model, table, pk, quote), [row])
            else:
                cursor.execute(
                    f"DELETE FROM {table} WHERE {pk} = "  # noqa: S608
                    f"(jsonb_populate_record(NULL::{table}, %s::jsonb)).{pk}",
                    [row],
                )
        # Off again at once, not at the transaction's end: a caller's own writes later in the
        # same transaction (or around this savepoint) are captured as usual.
        cursor.execute("SELECT set_config(%s, 'off', true)", [APPLYING_SETTING])
    return len(checked)


def _upsert_sql(model: type[Model], table: str, pk: str, quote: Any) -> str:
    others = [
        quote(field.column)
        for field in model._meta.concrete_fields
        if field.column != model._meta.pk.column
    ]
    on_conflict = (
        f"DO UPDATE SET ({', '.join(others)}) = ROW({', '.join('EXCLUDED.' + c for c in others)})"
        if others
        else "DO NOTHING"
    )
    return (
        f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, %s::jsonb) "  # noqa: S608
        f"ON CONFLICT ({pk}) {on_conflict}"
    )
