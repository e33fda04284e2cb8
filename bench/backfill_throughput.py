"""Backfill throughput: ``strangler backfill`` against a bare PostgreSQL ``COPY`` of the tables.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet_bench \\
        CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.backfill_throughput --rows 100000 --runs 3

``DATABASE_URL`` is the monolith's database (the source; migrated and filled with trips here:
``--rows`` split 60/40 between trips and their positions, kept between invocations). The target
is a database of its own beside it (``<name>_backfill_target``), migrated once with the trips
service's settings, as the service's init container does. Each run empties the target's trips
tables and the checkpoints first, then times:

- **backfill**: ``python manage.py strangler backfill trips`` in this process, end to end (plan,
  batches of ``--batch-size`` through COPY into a staging table and ``INSERT ... ON CONFLICT DO
  NOTHING``, checkpoints, sequence reset, and the count and checksum comparison);
- **verify**: ``--verify-only`` on the copied target, the comparison alone, so the copy's own
  rate is backfill minus verify;
- **copy**: the floor, per table ``COPY (SELECT ...) TO STDOUT`` piped into ``COPY ... FROM
  STDIN`` (psycopg's copy API, binary as the backfill, one transaction per table, no keys, no
  checkpoints, no idempotency);
- **executemany**: the other idempotent way, rows fetched by keyset and written with psycopg's
  ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` (pipelined), same batches.

Medians of ``--runs`` runs; the ratio is backfill rows/s over copy rows/s. Nothing asserts on time.
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from io import StringIO
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django
import psycopg
from psycopg import sql

TABLES = ("trips_trip", "trips_tripposition")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the source, in all")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5_000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to the source database (the monolith's).")
    django.setup()

    from django.core.management import call_command
    from django.db import connection

    from monolith.platform.deployable_process import database_url

    call_command("migrate", verbosity=0)
    source_url = database_url(connection.settings_dict)
    target_name = f"{connection.settings_dict['NAME']}_backfill_target"
    target_url = database_url({**connection.settings_dict, "NAME": target_name})
    _source_fill(source_url, args.rows)
    _target_prepare(source_url, target_name, target_url)

    from monolith.platform.extraction.backfill import backfill_tables

    tables = [t for t in backfill_tables("trips")[0] if t.table in TABLES]
    rows = _count(source_url)
    print(f"trips: {rows:,} rows ({', '.join(TABLES)}), batches of {args.batch_size:,}")  # noqa: T201
    timings: dict[str, list[float]] = {"backfill": [], "verify": [], "copy": [], "executemany": []}
    for run in range(1, args.runs + 1):
        _target_empty(target_url)
        started = time.perf_counter()
        out = StringIO()
        call_command(
            "strangler",
            "backfill",
            "trips",
            "--target-database-url",
            target_url,
            "--batch-size",
            str(args.batch_size),
            "--no-progress",
            stdout=out,
        )
        timings["backfill"].append(time.perf_counter() - started)
        if not out.getvalue().rstrip().endswith("tables match."):
            sys.exit(f"the backfill did not match:\n{out.getvalue()}")
        started = time.perf_counter()
        call_command(
            "strangler", "backfill", "trips", "--target-database-url", target_url, "--verify-only",
            stdout=StringIO(),
        )  # fmt: skip
        timings["verify"].append(time.perf_counter() - started)

        _target_empty(target_url)
        started = time.perf_counter()
        _copy_straight(source_url, target_url, tables)
        timings["copy"].append(time.perf_counter() - started)
        if _count(target_url) != rows:
            sys.exit("the straight COPY did not copy every row")

        _target_empty(target_url)
        started = time.perf_counter()
        _executemany(source_url, target_url, tables, args.batch_size)
        timings["executemany"].append(time.perf_counter() - started)
        if _count(target_url) != rows:
            sys.exit("executemany did not copy every row")
        done = ", ".join(f"{name} {values[-1]:.2f} s" for name, values in timings.items())
        print(f"run {run}: {done}", flush=True)  # noqa: T201

    median = {name: statistics.median(values) for name, values in timings.items()}
    rate = {name: rows / seconds for name, seconds in median.items()}
    copy_only = rows / max(median["backfill"] - median["verify"], 1e-9)
    lines = [
        f"medians of {args.runs} runs, {rows:,} rows:",
        _figure("strangler backfill (end to end)", median["backfill"], rate["backfill"]),
        f"  {'of which the comparison':<34}{median['verify']:6.2f} s",
        _figure("backfill's copy alone", median["backfill"] - median["verify"], copy_only),
        _figure("COPY TO STDOUT | COPY FROM STDIN", median["copy"], rate["copy"]),
        _figure("executemany INSERT ON CONFLICT", median["executemany"], rate["executemany"]),
        f"ratio backfill / COPY: {rate['backfill'] / rate['copy']:.2f} end to end, "
        f"{copy_only / rate['copy']:.2f} copy alone",
    ]
    print("\n" + "\n".join(lines))  # noqa: T201
    return 0


def _figure(what: str, seconds: float, rate: float) -> str:
    return f"  {what:<34}{seconds:6.2f} s {rate:>10,.0f} rows/s"


def _count(url: str) -> int:
    with psycopg.connect(url) as db:
        counts = [
            db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
            for t in TABLES
        ]
    return sum(int(count[0]) for count in counts if count)


def _source_fill(url: str, rows: int) -> None:
    """``rows`` trips and positions in the source, 60/40, made once by SQL (kept between runs)."""
    trips, positions = rows * 6 // 10, rows - rows * 6 // 10
    with psycopg.connect(url, autocommit=True) as db:
        have = db.execute("SELECT count(*) FROM trips_trip").fetchone() or (0,)
        have_positions = db.execute("SELECT count(*) FROM trips_tripposition").fetchone() or (0,)
        if (have[0], have_positions[0]) == (trips, positions):
            return
        print(f"filling the source with {trips:,} trips and {positions:,} positions ...")  # noqa: T201
        db.execute("TRUNCATE trips_trip, trips_tripposition")
        db.execute(
            "INSERT INTO trips_trip (id, rider_id, vehicle_id, status, origin_latitude, "
            "origin_longitude, destination_latitude, destination_longitude, requested_at, "
            "completed_at, distance_km, duration_seconds, cancel_reason, cancel_note, "
            "cancelled_by, updated_at) "
            "SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'completed', "
            "52.520008, 13.404954, 52.516275, 13.377704, now() - n * interval '1 minute', "
            "now(), 1 + (n %% 500) / 10.0, 600 + n %% 1200, '', "
            "CASE WHEN n %% 7 = 0 THEN 'a note' ELSE '' END, '', now() "
            "FROM generate_series(1, %s) AS n",
            (trips,),
        )
        db.execute(
            "INSERT INTO trips_tripposition (id, trip_id, recorded_at, latitude, longitude, "
            "received_at) "
            "SELECT gen_random_uuid(), t.id, now(), 52.5, 13.4, now() "
            "FROM (SELECT id FROM trips_trip LIMIT %s) AS t",
            (positions,),
        )
        db.execute("ANALYZE trips_trip, trips_tripposition")


def _target_prepare(source_url: str, name: str, url: str) -> None:
    """The trips service's database, created and migrated once, as its init container does."""
    from django.conf import settings

    from monolith.platform.deployable_process import ROOT, production_environment
    from monolith.platform.extraction.spec import module_url_variable, service_spec

    with psycopg.connect(source_url, autocommit=True) as db:
        exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    spec = service_spec("trips")
    env = production_environment(
        {
            "DJANGO_SETTINGS_MODULE": spec.settings_module,
            "DATABASE_URL": url,
            "FLEET_INTERNAL_TOKEN_SECRET": secrets.token_urlsafe(48),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            **{module_url_variable(other): "http://monolith:8000" for other in spec.reached},
        }
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
    )


def _target_empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("TRUNCATE trips_trip, trips_tripposition, trips_inbox, trips_bookingsaga, "
                   "trips_bookingsagastep, trips_outbox")  # fmt: skip
        db.execute("DROP TABLE IF EXISTS strangler_backfill_checkpoint")
        db.execute("VACUUM ANALYZE trips_trip")


def _uncaptured(target: psycopg.Connection[Any]) -> None:
    """The service's database mirrors trips (its triggers capture every write): copies are
    not captured, as the backfill's are not, so every way pays the same."""
    from monolith.platform.outbox.mirror import APPLYING_SETTING

    target.execute("SELECT set_config(%s, 'on', false)", (APPLYING_SETTING,))


def _copy_straight(source_url: str, target_url: str, tables: list[Any]) -> None:
    with psycopg.connect(source_url) as source, psycopg.connect(target_url) as target:
        _uncaptured(target)
        for table in tables:
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
            name = sql.Identifier(table.table)
            with source.cursor() as reader, target.cursor() as writer:
                read = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT BINARY)")
                write = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)")
                with (
                    reader.copy(read.format(columns, name)) as out,
                    writer.copy(write.format(name, columns)) as into,
                ):
                    for data in out:
                        into.write(data)
            target.commit()


def _executemany(source_url: str, target_url: str, tables: list[Any], batch_size: int) -> None:
    """Keyset batches written with INSERT ... ON CONFLICT DO NOTHING, one transaction each."""
    with (
        psycopg.connect(source_url, autocommit=True) as source,
        psycopg.connect(target_url) as target,
    ):
        _uncaptured(target)
        for table in tables:
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
            pk = sql.Identifier(table.pk)
            name = sql.Identifier(table.table)
            insert = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
                name, columns, sql.SQL(", ").join(sql.Placeholder() * len(table.columns))
            )
            after = None
            while True:
                lower = sql.SQL("WHERE {} > %s").format(pk) if after is not None else sql.SQL("")
                select = sql.SQL("SELECT {} FROM {} {} ORDER BY {} LIMIT %s")
                batch = source.execute(
                    select.format(columns, name, lower, pk),
                    ((after, batch_size) if after is not None else (batch_size,)),
                ).fetchall()
                if not batch:
                    break
                with target.cursor() as writer:
                    writer.executemany(insert, batch)
                target.commit()
                after = batch[-1][table.columns.index(table.pk)]


if __name__ == "__main__":
    sys.exit(main())
