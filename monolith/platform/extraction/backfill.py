"""Backfill: copy a fleet module's existing rows from the monolith into its service's database.

The target is the service's own database, already migrated for the module (the service's
``manage.py migrate``). Each table is copied in primary-key order, one batch per target
transaction: the rows go through ``COPY`` (binary) into a temporary staging table and on with
``INSERT ... ON CONFLICT DO NOTHING``, and the batch's last key is written to the checkpoint
table ``strangler_backfill_checkpoint`` in the same transaction. So a batch is either entirely
there with its checkpoint, or not at all: an interrupted run resumes after the last committed
batch, and a row already in the target is never duplicated nor overwritten.

A run that completed leaves every table marked finished; the next run starts a new pass from
the first key (rows already there are skipped), which picks up rows added since. Rows *changed*
in the source after they were copied are not updated: backfill is for the cut-over window, and
the events channel keeps the two sides in step afterwards (docs/extraction.md).

The comparison at the end counts each table's rows on both sides and sums a 64-bit hash of
every row's text (the same SQL on both sides, with the same session settings), so it costs one
scan per side and no memory, whatever the table's size.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.apps import apps
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin
from psycopg import sql

from monolith.platform.outbox.machinery import outbox_table, parked_table
from monolith.platform.outbox.mirror import APPLYING_SETTING
from monolith.platform.registry import module_database

CHECKPOINT_TABLE = "strangler_backfill_checkpoint"
DEFAULT_BATCH_SIZE = 5_000
# The text of a row depends on these: both sides of a comparison must agree on them.
SESSION_SETTINGS = (
    "SET TimeZone TO 'UTC'",
    "SET DateStyle TO 'ISO, YMD'",
    "SET IntervalStyle TO 'postgres'",
    "SET extra_float_digits TO 1",
)
# Django's connection parameters that are not libpq's.
_DJANGO_ONLY_PARAMETERS = ("context", "cursor_factory", "prepare_threshold")


class BackfillError(Exception):
    """The backfill cannot start or go on; the message is the one line to print."""


@dataclass(frozen=True)
class BackfillTable:
    """One table of the module, as backfill copies and compares it."""

    table: str
    pk: str
    pk_type: str  # the key's SQL type, to read a checkpoint's text back
    columns: tuple[str, ...]
    # Tables keyed by an identity or serial column get their sequence moved past the copy.
    pk_sequence: bool


@dataclass(frozen=True)
class SkippedTable:
    table: str
    reason: str


@dataclass(frozen=True)
class Checkpoint:
    last_pk: str | None
    rows: int
    finished: bool


@dataclass(frozen=True)
class TableComparison:
    table: str
    source_rows: int
    source_checksum: str
    target_rows: int
    target_checksum: str

    @property
    def matches(self) -> bool:
        return (self.source_rows, self.source_checksum) == (self.target_rows, self.target_checksum)


def backfill_tables(label: str) -> tuple[list[BackfillTable], list[SkippedTable]]:
    """The module's tables in foreign-key order (a referenced table first), and those left out.

    Left out: the outbox (its events are the monolith's to relay: copied, unrelayed ones would
    be relayed twice, relayed ones are history) and the parked deliveries (retried by staff
    where they were parked). The inbox is copied: it is the memory of which events the copied
    rows already reflect, so a redelivery reaching the service has no second effect.
    """
    left_out = {
        outbox_table(label): "its events are relayed by the monolith, where they were written",
        parked_table(label): "parked deliveries are retried where they were parked",
    }
    models = [
        model
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]
    skipped = [
        SkippedTable(model._meta.db_table, left_out[model]) for model in models if model in left_out
    ]
    copied = _dependency_order([model for model in models if model not in left_out])
    connection = connections[module_database(label)]
    return [_backfill_table(model, connection) for model in copied], skipped


def _dependency_order(models: list[type[Model]]) -> list[type[Model]]:
    ordered: list[type[Model]] = []
    placing: set[type[Model]] = set()

    def place(model: type[Model]) -> None:
        if model in ordered or model in placing:
            return
        placing.add(model)
        for field in model._meta.concrete_fields:
            target = field.related_model
            if isinstance(target, type) and target in models and target is not model:
                place(target)
        ordered.append(model)

    for model in models:
        place(model)
    return ordered


def _backfill_table(model: type[Model], connection: Any) -> BackfillTable:
    pk = model._meta.pk
    if pk is None:  # only abstract models have none
        raise TypeError(f"{model.__name__} has no primary key")
    return BackfillTable(
        table=model._meta.db_table,
        pk=pk.column,
        pk_type=pk.db_type(connection) or "text",
        columns=tuple(field.column for field in model._meta.concrete_fields),
        pk_sequence=isinstance(pk, AutoFieldMixin),
    )


# Connections


def _session(connection: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    for statement in SESSION_SETTINGS:
        connection.execute(statement)
    return connection


def source_connect(label: str) -> psycopg.Connection[Any]:
    """A connection of its own to the database that holds the module's tables in the monolith."""
    params = connections[module_database(label)].get_connection_params()
    for name in _DJANGO_ONLY_PARAMETERS:
        params.pop(name, None)
    return _session(psycopg.connect(**params, autocommit=True))


def redacted(url: str) -> str:
    """A database URL as it may be printed: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def target_connect(url: str) -> psycopg.Connection[Any]:
    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except (psycopg.Error, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BackfillError(
            f"cannot connect to the target database {redacted(url)}: {reason}"
        ) from None
    # The copies are the monolith's rows already: the service's mirror triggers must not
    # capture them as the service's own changes and send them back (``outbox.mirror``).
    connection.execute("SELECT set_config(%s, 'on', false)", (APPLYING_SETTING,))
    return _session(connection)


def _server_database(connection: psycopg.Connection[Any]) -> tuple[Any, ...]:
    # The server's start time tells two servers on one host and port apart.
    row = connection.execute(
        "SELECT current_database(), pg_postmaster_start_time(), inet_server_port()"
    ).fetchone()
    return tuple(row or ())


def target_check(
    label: str, source: psycopg.Connection[Any], target: psycopg.Connection[Any]
) -> None:
    """Refuse a target that is the source itself or lacks some of the module's migrations."""
    if _server_database(source) == _server_database(target):
        raise BackfillError(
            f"the target database is the one {label} is copied from; give the service's own "
            "database (--target-database-url)"
        )
    loader = MigrationLoader(None, ignore_no_migrations=True)
    try:
        applied = {
            name
            for (name,) in target.execute(
                "SELECT name FROM django_migrations WHERE app = %s", (label,)
            )
        }
    except psycopg.errors.UndefinedTable:
        applied = set()
    missing = sorted(
        name
        for app, name in loader.graph.nodes
        if app == label
        and name not in applied
        # A squashed migration counts as applied when everything it replaces was.
        and not (
            loader.graph.nodes[app, name].replaces
            and all(replaced in applied for _, replaced in loader.graph.nodes[app, name].replaces)
        )
    )
    if missing:
        raise BackfillError(
            f"the target database is not migrated for {label} ({len(missing)} migration(s) "
            f"missing, first {label}.{missing[0]}): run the service's migrations first, "
            f"DATABASE_URL=<target> DJANGO_SETTINGS_MODULE=extracted.{label}.settings "
            "python manage.py migrate (with the service's environment)"
        )


# Checkpoints


def checkpoints_read(target: psycopg.Connection[Any], label: str) -> dict[str, Checkpoint]:
    """The module's checkpoints in the target, by table; none if backfill never ran there."""
    exists = target.execute("SELECT to_regclass(%s) IS NOT NULL", (CHECKPOINT_TABLE,)).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = target.execute(
        sql.SQL(
            "SELECT table_name, last_pk, rows_copied, finished FROM {} WHERE module = %s"
        ).format(sql.Identifier(CHECKPOINT_TABLE)),
        (label,),
    )
    return {table: Checkpoint(last_pk, rows, finished) for table, last_pk, rows, finished in rows}


def checkpoints_prepare(
    target: psycopg.Connection[Any], label: str, tables: list[BackfillTable], *, restart: bool
) -> dict[str, Checkpoint]:
    """Where each table's copy starts: after its checkpoint, or from the first key.

    A run that finished every table (or ``restart``) begins a new pass; otherwise the
    interrupted run is resumed and its finished tables are not copied again.
    """
    target.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (module text NOT NULL, table_name text NOT NULL, "
            "last_pk text, rows_copied bigint NOT NULL DEFAULT 0, "
            "finished boolean NOT NULL DEFAULT false, "
            "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (module, table_name))"
        ).format(sql.Identifier(CHECKPOINT_TABLE))
    )
    checkpoints = checkpoints_read(target, label)
    complete = all(checkpoints.get(t.table, Checkpoint(None, 0, False)).finished for t in tables)
    if restart or complete:
        target.execute(
            sql.SQL("DELETE FROM {} WHERE module = %s").format(sql.Identifier(CHECKPOINT_TABLE)),
            (label,),
        )
        return {}
    return checkpoints


def _checkpoint_write(
    target: psycopg.Connection[Any],
    label: str,
    table: str,
    *,
    last_pk: str | None,
    rows: int,
    finished: bool,
) -> None:
    target.execute(
        sql.SQL(
            "INSERT INTO {} AS c (module, table_name, last_pk, rows_copied, finished) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (module, table_name) DO UPDATE SET "
            "last_pk = coalesce(excluded.last_pk, c.last_pk), "
            "rows_copied = c.rows_copied + excluded.rows_copied, "
            "finished = excluded.finished, updated_at = now()"
        ).format(sql.Identifier(CHECKPOINT_TABLE)),
        (label, table, last_pk, rows, finished),
    )


# Copying


def source_count(source: psycopg.Connection[Any], table: BackfillTable) -> int:
    row = source.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.table))
    ).fetchone()
    return int(row[0]) if row else 0


def _key_after(table: BackfillTable, after: str | None) -> sql.Composable:
    """The condition ``pk > after`` (true when there is no ``after``: the first batch)."""
    if after is None:
        return sql.SQL("TRUE")
    return sql.SQL("{} > CAST({} AS {})").format(
        sql.Identifier(table.pk), sql.Literal(after), sql.SQL(table.pk_type)
    )


def _batch_end(
    source: psycopg.Connection[Any], table: BackfillTable, after: str | None, batch_size: int
) -> str | None:
    """The key of the batch's last row: ``batch_size`` keys after ``after``, or the last one."""
    # The key is read as text (the checkpoint's form), under a name that is not the column's:
    # ORDER BY must sort by the key itself, not by its text.
    select = "SELECT {pk}::text AS batch_end FROM {t} WHERE {after} ORDER BY {pk}"
    names = {"pk": sql.Identifier(table.pk), "t": sql.Identifier(table.table)}
    after_key = _key_after(table, after)
    row = source.execute(
        sql.SQL(select + " OFFSET %s LIMIT 1").format(**names, after=after_key), (batch_size - 1,)
    ).fetchone()
    if row is None:
        # Fewer rows than a batch are left: the last of them. (max() has no uuid version.)
        row = source.execute(
            sql.SQL(select + " DESC LIMIT 1").format(**names, after=after_key)
        ).fetchone()
    return row[0] if row else None


def _batch_copy(
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    table: BackfillTable,
    stage: sql.Identifier,
    after: str | None,
    until: str,
) -> tuple[int, int]:
    """Copy the rows keyed in (after, until] into the open target transaction: (read, inserted)."""
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in table.columns)
    read = sql.SQL(
        "COPY (SELECT {columns} FROM {t} WHERE {after} AND {pk} <= CAST({until} AS {cast})) "
        "TO STDOUT (FORMAT BINARY)"
    ).format(
        columns=columns,
        t=sql.Identifier(table.table),
        after=_key_after(table, after),
        pk=sql.Identifier(table.pk),
        until=sql.Literal(until),
        cast=sql.SQL(table.pk_type),
    )
    write = sql.SQL("COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY)").format(
        stage=stage, columns=columns
    )
    with source.cursor() as reader, target.cursor() as writer:
        with reader.copy(read) as rows_out, writer.copy(write) as rows_in:
            for data in rows_out:
                rows_in.write(data)
        read_rows = writer.rowcount
        writer.execute(
            sql.SQL(
                "INSERT INTO {t} ({columns}) SELECT {columns} FROM {stage} ON CONFLICT DO NOTHING"
            ).format(t=sql.Identifier(table.table), columns=columns, stage=stage)
        )
        return read_rows, writer.rowcount


def _sequence_reset(target: psycopg.Connection[Any], table: BackfillTable) -> None:
    # What Django's sqlsequencereset does: the next generated key follows the largest one.
    target.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence({name}, {column}), coalesce(max({pk}), 1), "
            "max({pk}) IS NOT NULL) FROM {t}"
        ).format(
            name=sql.Literal(table.table),
            column=sql.Literal(table.pk),
            pk=sql.Identifier(table.pk),
            t=sql.Identifier(table.table),
        )
    )


@dataclass
class TableCopy:
    """What one table's copy did in this run."""

    read: int = 0
    inserted: int = 0
    batches: int = 0
    finished: bool = False


def table_copy(
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    label: str,
    table: BackfillTable,
    checkpoint: Checkpoint | None,
    *,
    batch_size: int,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] = lambda rows: None,
) -> TableCopy:
    """Copy the table's rows after its checkpoint, one committed batch at a time."""
    done = TableCopy()
    if checkpoint is not None and checkpoint.finished:
        done.finished = True
        return done
    after = checkpoint.last_pk if checkpoint else None
    stage = sql.Identifier(f"strangler_stage_{table.table}")
    # Emptied at every commit: each batch starts with an empty stage.
    target.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {t}) ON COMMIT DELETE ROWS"
        ).format(stage=stage, t=sql.Identifier(table.table))
    )
    while max_batches is None or done.batches < max_batches:
        until = _batch_end(source, table, after, batch_size)
        if until is None:
            with target.transaction():
                if table.pk_sequence:
                    _sequence_reset(target, table)
                _checkpoint_write(target, label, table.table, last_pk=None, rows=0, finished=True)
            done.finished = True
            break
        with target.transaction():
            read, inserted = _batch_copy(source, target, table, stage, after, until)
            _checkpoint_write(target, label, table.table, last_pk=until, rows=read, finished=False)
        after = until
        done.read += read
        done.inserted += inserted
        done.batches += 1
        on_batch(read)
    return done


# Comparing


def _checksum_query(table: BackfillTable) -> sql.Composed:
    row = sql.SQL(", ").join(sql.Identifier(column) for column in table.columns)
    return sql.SQL(
        "SELECT count(*), coalesce(sum(('x' || left(md5(ROW({row})::text), 16))::bit(64)::bigint"
        "::numeric), 0) FROM {t}"
    ).format(row=row, t=sql.Identifier(table.table))


def table_checksum(connection: psycopg.Connection[Any], table: BackfillTable) -> tuple[int, str]:
    """The table's row count and the sum of its rows' hashes, as 16 hex digits."""
    count, total = connection.execute(_checksum_query(table)).fetchone() or (0, 0)
    return int(count), f"{int(total) % 2**64:016x}"


def table_compare(
    source: psycopg.Connection[Any], target: psycopg.Connection[Any], table: BackfillTable
) -> TableComparison:
    source_rows, source_sum = table_checksum(source, table)
    target_rows, target_sum = table_checksum(target, table)
    return TableComparison(table.table, source_rows, source_sum, target_rows, target_sum)


@contextmanager
def backfill_connections(
    label: str, target_url: str
) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
    """The source and target connections, the target checked, both closed afterwards."""
    target = target_connect(target_url)
    try:
        with source_connect(label) as source:
            target_check(label, source, target)
            yield source, target
    finally:
        target.close()
