"""``strangler backfill``: the plan, the copy with its progress, and the comparison, as printed."""

import time
from typing import Any, TextIO

import psycopg
from django.core.management.base import OutputWrapper

from monolith.platform.extraction.backfill import (
    BackfillError,
    BackfillTable,
    Checkpoint,
    SkippedTable,
    TableComparison,
    backfill_connections,
    backfill_tables,
    checkpoints_prepare,
    checkpoints_read,
    redacted,
    source_count,
    table_compare,
    table_copy,
)
from monolith.platform.extraction.progress import RowProgress
from monolith.platform.registry import module_database


def _batches(rows: int, batch_size: int) -> int:
    return -(-rows // batch_size)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 'es' if word.endswith('ch') else 's'}"


def backfill_run(
    label: str,
    target_url: str,
    *,
    out: OutputWrapper,
    progress: TextIO | None,
    batch_size: int,
    dry_run: bool = False,
    verify_only: bool = False,
    restart: bool = False,
    max_batches: int | None = None,
) -> bool:
    """Backfill ``label`` into the database at ``target_url``; False if a table differs.

    Raises ``BackfillError`` (one line) for a target that is unreachable, is the source
    itself, or lacks the module's migrations, and for a batch the target refused (the batches
    committed before it are kept).
    """
    tables, skipped = backfill_tables(label)
    with backfill_connections(label, target_url) as (source, target):
        where = f"from database {module_database(label)!r} into {redacted(target_url)}"
        if dry_run:
            _plan_print(out, label, where, source, target, tables, skipped, batch_size, restart)
            return True
        if verify_only:
            out.write(f"Comparing {label} {where}:")
            return _comparisons_print(
                out, label, [table_compare(source, target, t) for t in tables]
            )
        out.write(f"Backfill {label} {where}, batches of {batch_size:,} rows:")
        checkpoints = checkpoints_prepare(target, label, tables, restart=restart)
        batches_left = max_batches
        for table in tables:
            checkpoint = checkpoints.get(table.table)
            if checkpoint is not None and checkpoint.finished:
                out.write(f"  {table.table}: copied by the interrupted run, not copied again")
                continue
            total = source_count(source, table)
            bar = RowProgress(
                progress, table.table, total=total, done=checkpoint.rows if checkpoint else 0
            )
            started = time.monotonic()
            try:
                copy = table_copy(
                    source,
                    target,
                    label,
                    table,
                    checkpoint,
                    batch_size=batch_size,
                    max_batches=batches_left,
                    on_batch=bar.advance,
                )
            except psycopg.Error as error:
                bar.finish()
                reason = str(error).strip().splitlines()[0]
                raise BackfillError(
                    f"copying {table.table} failed after {bar.done:,} rows, every batch before "
                    f"kept: {reason}; run the same command to resume"
                ) from error
            bar.finish()
            seconds = max(time.monotonic() - started, 1e-9)
            out.write(
                f"  {table.table}: {copy.read:,} rows read, {copy.inserted:,} inserted "
                f"({copy.read - copy.inserted:,} already there), "
                f"{_plural(copy.batches, 'batch')}, {copy.read / seconds:,.0f} rows/s"
            )
            if batches_left is not None:
                batches_left -= copy.batches
                if not copy.finished:
                    out.write(
                        f"Stopped after {max_batches:,} batches (--max-batches): run the same "
                        "command to resume."
                    )
                    return True
        for left in skipped:
            out.write(f"  {left.table}: not copied, {left.reason}")
        out.write("Comparing:")
        return _comparisons_print(out, label, [table_compare(source, target, t) for t in tables])


def _plan_print(
    out: OutputWrapper,
    label: str,
    where: str,
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    tables: list[BackfillTable],
    skipped: list[SkippedTable],
    batch_size: int,
    restart: bool,
) -> None:
    checkpoints = checkpoints_read(target, label)
    resuming = (
        bool(checkpoints)
        and not restart
        and not all(checkpoints.get(t.table, Checkpoint(None, 0, False)).finished for t in tables)
    )
    out.write(
        f"Dry run: would backfill {label} {where}, in batches of {batch_size:,} rows"
        + (", resuming the interrupted run:" if resuming else ", a new pass:")
    )
    width = max(len(t.table) for t in tables)
    for number, table in enumerate(tables, 1):
        rows = source_count(source, table)
        checkpoint = checkpoints.get(table.table) if resuming else None
        if checkpoint is not None and checkpoint.finished:
            out.write(f"  {number}. {table.table:<{width}}  done by the interrupted run")
            continue
        copied = checkpoint.rows if checkpoint else 0
        left = max(rows - copied, 0)
        note = f" (resumes after {copied:,} rows)" if copied else ""
        sequence = ", then moves its key sequence past the copy" if table.pk_sequence else ""
        out.write(
            f"  {number}. {table.table:<{width}}  {rows:,} rows, "
            f"{_plural(_batches(left, batch_size), 'batch')}{note}{sequence}"
        )
    for kept_back in skipped:
        out.write(f"  not copied: {kept_back.table} ({kept_back.reason})")
    out.write("then compares each table's row count and checksum on both sides.")
    out.write("Nothing was copied or changed.")


def _comparisons_print(out: OutputWrapper, label: str, comparisons: list[TableComparison]) -> bool:
    width = max(len(c.table) for c in comparisons)
    for c in comparisons:
        verdict = "OK" if c.matches else "MISMATCH"
        out.write(
            f"  {c.table:<{width}}  source {c.source_rows:>9,} rows {c.source_checksum}  "
            f"target {c.target_rows:>9,} rows {c.target_checksum}  {verdict}"
        )
    differing = [c.table for c in comparisons if not c.matches]
    if differing:
        out.write(f"{label}: {len(differing)} of {len(comparisons)} tables differ.")
        return False
    out.write(f"{label}: all {len(comparisons)} tables match.")
    return True
