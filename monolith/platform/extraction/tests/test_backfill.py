"""``python manage.py strangler backfill``: the module's rows reach the service's own database,
in batches, resumably, and the comparison at the end tells a faithful copy from a tampered one.

The source is the test database (the monolith's); the target is a database made for each test
from one migrated, as the service's init container migrates it, with the service's settings.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from psycopg import sql

from modules.billing.models import Inbox as BillingInbox
from modules.billing.models import Invoice, InvoiceLine, InvoiceNumberCounter, Tariff
from modules.trips.models import Inbox as TripsInbox
from modules.trips.models import Outbox as TripsOutbox
from modules.trips.models import Trip, TripPosition, TripStatus
from monolith.platform.deployable_process import ROOT, database_url, production_environment
from monolith.platform.extraction.backfill import CHECKPOINT_TABLE
from monolith.platform.extraction.spec import module_url_variable, service_spec

pytestmark = pytest.mark.django_db(transaction=True)

TRIPS_TABLES = [
    "trips_trip",
    "trips_tripposition",
    "trips_inbox",
    "trips_bookingsaga",
    "trips_bookingsagastep",
]
BILLING_TABLES = [
    "billing_tariff",
    "billing_invoicenumbercounter",
    "billing_invoice",
    "billing_invoiceline",
    "billing_paymentmethod",
    "billing_payment",
    "billing_refund",
    "billing_creditpurchase",
    "billing_sandboxcharge",
    "billing_sandboxrefund",
    "billing_inbox",
]


def _server(dbname: str = "postgres") -> dict[str, Any]:
    params = connection.settings_dict
    return {
        "host": params["HOST"] or "localhost",
        "port": params["PORT"] or None,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
        "dbname": dbname,
        "autocommit": True,
    }


def _url(name: str) -> str:
    return database_url({**connection.settings_dict, "NAME": name})


def _service_migrate(label: str, name: str) -> None:
    """What the service's init container runs: ``migrate`` with the service's settings."""
    spec = service_spec(label)
    env = production_environment(
        {
            "DJANGO_SETTINGS_MODULE": spec.settings_module,
            "DATABASE_URL": _url(name),
            "FLEET_INTERNAL_TOKEN_SECRET": secrets.token_urlsafe(48),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            **{module_url_variable(other): "http://monolith:8000" for other in spec.reached},
        }
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def migrated_services(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """One database per service, migrated once, the template of each test's target."""
    names: dict[str, str] = {}
    with django_db_blocker.unblock():
        base = connection.settings_dict["NAME"]
        try:
            with psycopg.connect(**_server()) as admin:
                for label in ("trips", "billing"):
                    names[label] = f"{base}_{label}_backfill_{uuid.uuid4().hex[:6]}"
                    admin.execute(f'CREATE DATABASE "{names[label]}"')
            for label, name in names.items():
                _service_migrate(label, name)
            yield names
        finally:
            with psycopg.connect(**_server()) as admin:
                for name in names.values():
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def service_database(migrated_services: dict[str, str]) -> Iterator[Callable[[str], str]]:
    """A fresh, migrated database of the service for ``label``: its URL."""
    made: list[str] = []

    def make(label: str) -> str:
        name = f"{migrated_services[label]}_{len(made)}"
        with psycopg.connect(**_server()) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_services[label]}"')
        made.append(name)
        return _url(name)

    yield make
    with psycopg.connect(**_server()) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def trips_seed(count: int = 1_200) -> None:
    """Trips in every state the copy must keep: nulls, decimals, times, positions, an inbox."""
    now = timezone.now()
    trips = [
        Trip(
            rider_id=uuid.uuid4(),
            vehicle_id=uuid.uuid4() if n % 3 else None,
            status=TripStatus.COMPLETED if n % 2 else TripStatus.REQUESTED,
            origin_latitude=Decimal("52.520008"),
            origin_longitude=Decimal("13.404954"),
            destination_latitude=Decimal("52.516275"),
            destination_longitude=Decimal("13.377704"),
            requested_at=now - timedelta(minutes=n),
            completed_at=now if n % 2 else None,
            distance_km=Decimal(n % 50) / 4 if n % 2 else None,
            cancel_note='it\'s "quoted", tab\there, ünïcode' if n % 7 == 0 else "",
        )
        for n in range(count)
    ]
    Trip.objects.bulk_create(trips)
    TripPosition.objects.bulk_create(
        TripPosition(
            trip=trip,
            recorded_at=now + timedelta(seconds=n),
            latitude=Decimal("52.5"),
            longitude=Decimal("13.4"),
        )
        for trip in trips[:300]
        for n in range(2)
    )
    TripsInbox.objects.bulk_create(
        TripsInbox(event_id=uuid.uuid4(), subscriber="trips.vehicle_went_offline")
        for _ in range(40)
    )
    TripsOutbox.objects.create(name="TripCompleted", payload={"trip_id": "x"}, occurred_at=now)


def billing_seed(count: int = 600) -> None:
    now = timezone.now()
    tariff = Tariff.objects.create(
        name="Standard",
        currency="EUR",
        base_fare=Decimal("2.00"),
        per_km=Decimal("1.10"),
        per_minute=Decimal("0.20"),
        minimum_fare=Decimal("5.00"),
        effective_from=now - timedelta(days=30),
    )
    InvoiceNumberCounter.objects.create(name="2026", last_value=count)
    invoices = [
        Invoice(
            number=f"INV-2026-{n:06d}",
            trip_id=uuid.uuid4(),
            rider_id=uuid.uuid4(),
            tariff=tariff,
            currency="EUR",
            subtotal=Decimal("12.30"),
            total=Decimal("12.30"),
            trip_distance_km=Decimal("7.125"),
            trip_duration_seconds=900 + n,
            trip_completed_at=now,
            issued_at=now,
        )
        for n in range(count)
    ]
    Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=position,
            kind=InvoiceLine.Kind.choices[position - 1][0],
            description=f"line {position}",
            quantity=Decimal("1.000"),
            unit_price=Decimal("6.15"),
            amount=Decimal("6.15"),
        )
        for invoice in invoices
        for position in (1, 2)
    )
    BillingInbox.objects.bulk_create(
        BillingInbox(event_id=uuid.uuid4(), subscriber="billing.trip_completed") for _ in range(25)
    )


SEEDS = {"trips": (trips_seed, TRIPS_TABLES), "billing": (billing_seed, BILLING_TABLES)}


def backfill(label: str, target: str, *args: str) -> str:
    out = StringIO()
    call_command(
        "strangler",
        "backfill",
        label,
        "--target-database-url",
        target,
        "--no-progress",
        *args,
        stdout=out,
        no_color=True,
    )
    return out.getvalue()


def rows(url_or_name: str, table: str) -> set[tuple[Any, ...]]:
    """Every row of ``table``, as Python values, to compare the two sides independently."""
    dsn = url_or_name if "://" in url_or_name else _url(url_or_name)
    with psycopg.connect(dsn) as db:
        return set(db.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))))


def source_name() -> str:
    return str(connection.settings_dict["NAME"])


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": _url(source_name()), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("label", ["trips", "billing"])
def test_backfill_copies_every_row_of_the_module_and_every_table_matches(
    label: str, service_database: Callable[[str], str]
) -> None:
    seed, tables = SEEDS[label]
    seed()
    target = service_database(label)

    output = backfill(label, target, "--batch-size", "500")

    lines = output.splitlines()
    for table in tables:
        (summary,) = [line for line in lines if line.startswith(f"  {table} ") and "source" in line]
        assert summary.endswith("  OK"), summary
        assert rows(source_name(), table) == rows(target, table)
    assert lines[-1] == f"{label}: all {len(tables)} tables match."
    assert "MISMATCH" not in output
    # In foreign-key order, the big tables in several batches.
    copied = [line.split(":")[0].strip() for line in lines if "rows read" in line]
    assert copied == tables
    big = "trips_trip" if label == "trips" else "billing_invoiceline"
    assert f"  {big}: 1,200 rows read, 1,200 inserted (0 already there), 3 batches," in output
    # The outbox stays with the monolith, whose relay sends its events.
    assert f"  {label}_outbox: not copied" in output
    assert rows(target, f"{label}_outbox") == set()
    # The inbox's key sequence follows the copied keys.
    with psycopg.connect(target) as db:
        inbox = f"{label}_inbox"
        (largest,) = db.execute(
            sql.SQL("SELECT max(id) FROM {}").format(sql.Identifier(inbox))
        ).fetchone() or (0,)
        (following,) = db.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", (inbox,)
        ).fetchone() or (0,)
        assert following == largest + 1
        finished = db.execute(
            sql.SQL("SELECT bool_and(finished), count(*) FROM {} WHERE module = %s").format(
                sql.Identifier(CHECKPOINT_TABLE)
            ),
            (label,),
        ).fetchone()
    assert finished == (True, len(tables))


def test_an_interrupted_backfill_resumes_after_the_last_batch_without_duplicates(
    service_database: Callable[[str], str],
) -> None:
    trips_seed(1_200)
    target = service_database("trips")

    stopped = backfill("trips", target, "--batch-size", "500", "--max-batches", "2")
    assert stopped.splitlines()[-1] == (
        "Stopped after 2 batches (--max-batches): run the same command to resume."
    )
    assert "Comparing" not in stopped
    assert len(rows(target, "trips_trip")) == 1_000

    planned = backfill("trips", target, "--batch-size", "500", "--dry-run")
    assert "resuming the interrupted run:" in planned.splitlines()[0]
    assert "  1. trips_trip             1,200 rows, 1 batch (resumes after 1,000 rows)" in planned

    resumed = backfill("trips", target, "--batch-size", "500")
    # Only the rows after the checkpoint are read again.
    assert "  trips_trip: 200 rows read, 200 inserted (0 already there), 1 batch," in resumed
    assert resumed.splitlines()[-1] == "trips: all 5 tables match."
    assert rows(source_name(), "trips_trip") == rows(target, "trips_trip")

    # A complete run leaves nothing to resume: the next one is a new pass, skipping what is there.
    again = backfill("trips", target)
    assert "  trips_trip: 1,200 rows read, 0 inserted (1,200 already there), 1 batch," in again
    assert again.splitlines()[-1] == "trips: all 5 tables match."


def test_a_failure_mid_table_keeps_the_committed_batches_and_the_rerun_resumes(
    service_database: Callable[[str], str],
) -> None:
    trips_seed(1_200)
    target = service_database("trips")
    ordered = sorted(Trip.objects.values_list("id", flat=True))
    # The target refuses the 701st trip: the third batch of 300 fails as a whole.
    with psycopg.connect(target, autocommit=True) as db:
        db.execute(
            "CREATE FUNCTION refuse_trip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.id = '{ordered[700]}' THEN RAISE EXCEPTION 'disk full'; END IF; "
            "RETURN NEW; END $$"
        )
        db.execute(
            "CREATE TRIGGER refuse_trip BEFORE INSERT ON trips_trip "
            "FOR EACH ROW EXECUTE FUNCTION refuse_trip()"
        )

    with pytest.raises(CommandError) as failed:
        backfill("trips", target, "--batch-size", "300")
    assert str(failed.value) == (
        "copying trips_trip failed after 600 rows, every batch before kept: disk full; run the "
        "same command to resume"
    )

    assert {row[0] for row in rows(target, "trips_trip")} == set(ordered[:600])
    with psycopg.connect(target, autocommit=True) as db:
        checkpoint = db.execute(
            sql.SQL("SELECT last_pk, rows_copied, finished FROM {} WHERE table_name = %s").format(
                sql.Identifier(CHECKPOINT_TABLE)
            ),
            ("trips_trip",),
        ).fetchone()
        assert checkpoint == (str(ordered[599]), 600, False)
        db.execute("DROP TRIGGER refuse_trip ON trips_trip")

    resumed = backfill("trips", target, "--batch-size", "300")
    assert "  trips_trip: 600 rows read, 600 inserted (0 already there), 2 batches," in resumed
    assert resumed.splitlines()[-1] == "trips: all 5 tables match."
    assert rows(source_name(), "trips_trip") == rows(target, "trips_trip")


def test_a_tampered_target_row_is_a_mismatch_and_exit_one(
    service_database: Callable[[str], str],
) -> None:
    billing_seed(200)
    target = service_database("billing")
    assert backfill("billing", target).splitlines()[-1] == "billing: all 11 tables match."
    with psycopg.connect(target, autocommit=True) as db:
        db.execute(
            "UPDATE billing_invoice SET total = total + 0.01 WHERE number = 'INV-2026-000007'"
        )

    done = manage(
        "strangler", "backfill", "billing", "--verify-only", "--target-database-url", target
    )

    assert done.returncode == 1
    differing = [line for line in done.stdout.splitlines() if line.endswith("MISMATCH")]
    assert len(differing) == 1
    assert differing[0].startswith("  billing_invoice  ")
    # Same count, different checksum.
    assert differing[0].count("      200 rows") == 2
    assert done.stdout.splitlines()[-1] == "billing: 1 of 11 tables differ."
    assert done.stderr.splitlines() == [
        "CommandError: the service's database differs from the monolith's for billing "
        "(MISMATCH above)"
    ]


def test_a_dry_run_prints_the_plan_and_changes_nothing(
    service_database: Callable[[str], str],
) -> None:
    trips_seed(1_200)
    target = service_database("trips")

    planned = backfill("trips", target, "--dry-run", "--batch-size", "500")

    lines = planned.splitlines()
    assert lines[0].startswith("Dry run: would backfill trips from database 'default' into ")
    assert lines[0].endswith(", in batches of 500 rows, a new pass:")
    assert lines[1:] == [
        "  1. trips_trip             1,200 rows, 3 batches",
        "  2. trips_tripposition     600 rows, 2 batches",
        "  3. trips_inbox            40 rows, 1 batch, then moves its key sequence past the copy",
        "  4. trips_bookingsaga      0 rows, 0 batches",
        "  5. trips_bookingsagastep  0 rows, 0 batches",
        "  not copied: trips_outbox (its events are relayed by the monolith, where they were "
        "written)",
        "  not copied: trips_parkeddelivery (parked deliveries are retried where they were parked)",
        "then compares each table's row count and checksum on both sides.",
        "Nothing was copied or changed.",
    ]
    for table in TRIPS_TABLES:
        assert rows(target, table) == set()
    with psycopg.connect(target) as db:
        assert db.execute("SELECT to_regclass(%s)", (CHECKPOINT_TABLE,)).fetchone() == (None,)


def test_bad_input_is_one_line(service_database: Callable[[str], str]) -> None:
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    trips_migrations = sum(app == "trips" for app, _ in graph.nodes)
    target = service_database("trips")
    with psycopg.connect(**_server()) as admin:
        empty = f"{source_name()}_backfill_empty_{uuid.uuid4().hex[:6]}"
        admin.execute(f'CREATE DATABASE "{empty}"')
    try:
        cases = [
            (
                ["nosuch", "--target-database-url", target],
                1,
                [
                    "CommandError: unknown module 'nosuch': choose one of vehicles, users, trips, "
                    "billing"
                ],
            ),
            (
                ["trips", "--target-database-url", target, "--batch-size", "0"],
                2,
                [
                    "strangler: argument --batch-size: '0' is not a whole number of at least 1 "
                    "(see: python manage.py strangler --help)"
                ],
            ),
            (
                ["trips"],
                1,
                [
                    "CommandError: give the service's database: --target-database-url or "
                    "FLEET_BACKFILL_TARGET_URL"
                ],
            ),
            (["trips", "--target-database-url", _url(f"{empty}_nosuch")], 1, None),
            (["trips", "--target-database-url", "postgres://postgres@127.0.0.1:1/x"], 1, None),
            (
                ["trips", "--target-database-url", _url(empty)],
                1,
                [
                    "CommandError: the target database is not migrated for trips "
                    f"({trips_migrations} migration(s) "
                    "missing, first trips.0001_initial): run the service's migrations first, "
                    "DATABASE_URL=<target> DJANGO_SETTINGS_MODULE=extracted.trips.settings python "
                    "manage.py migrate (with the service's environment)"
                ],
            ),
            (
                ["trips", "--target-database-url", _url(source_name())],
                1,
                [
                    "CommandError: the target database is the one trips is copied from; give the "
                    "service's own database (--target-database-url)"
                ],
            ),
        ]
        for args, code, expected in cases:
            done = manage("strangler", "backfill", *args, FLEET_BACKFILL_TARGET_URL="")
            assert done.returncode == code, (args, done.stderr)
            assert done.stdout == ""
            (line,) = done.stderr.splitlines()
            if expected is None:
                assert line.startswith("CommandError: cannot connect to the target database "), line
            else:
                assert [line] == expected
    finally:
        with psycopg.connect(**_server()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')


def test_the_target_may_come_from_the_environment(service_database: Callable[[str], str]) -> None:
    trips_seed(50)
    target = service_database("trips")
    done = manage("strangler", "backfill", "trips", FLEET_BACKFILL_TARGET_URL=target)
    assert done.returncode == 0, done.stderr
    # Not a terminal: no progress bar, only the summary lines.
    assert done.stderr == ""
    assert done.stdout.splitlines()[-1] == "trips: all 5 tables match."


def test_dry_run_and_verify_only_do_not_go_together() -> None:
    with pytest.raises(CommandError, match="--dry-run and --verify-only do not go together"):
        call_command(
            "strangler",
            "backfill",
            "trips",
            "--dry-run",
            "--verify-only",
            "--target-database-url",
            "postgres://localhost/x",
        )


def test_ctrl_c_keeps_every_committed_batch_and_the_same_command_resumes(
    service_database: Callable[[str], str],
) -> None:
    trips_seed(1_200)
    target = service_database("trips")
    command = [sys.executable, "manage.py", "strangler", "backfill", "trips", "--batch-size", "1"]
    env = {**os.environ, "DATABASE_URL": _url(source_name()), "FLEET_BACKFILL_TARGET_URL": target}
    copying = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    checkpoint = sql.SQL("SELECT rows_copied FROM {} WHERE table_name = 'trips_trip'").format(
        sql.Identifier(CHECKPOINT_TABLE)
    )
    with psycopg.connect(target, autocommit=True) as db:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and copying.poll() is None:
            created = db.execute("SELECT to_regclass(%s)", (CHECKPOINT_TABLE,)).fetchone()
            if created != (None,) and db.execute(checkpoint).fetchone():
                break
            time.sleep(0.02)
        copying.send_signal(signal.SIGINT)
        _, stderr = copying.communicate(timeout=60)
        assert copying.returncode == 130, stderr
        assert stderr.splitlines() == [
            "Interrupted: every committed batch is kept; run the same command to resume."
        ]
        (kept,) = db.execute(checkpoint).fetchone() or (None,)
    # The checkpoint and the rows were committed together.
    assert 0 < kept < 1_200
    assert len(rows(target, "trips_trip")) == kept

    resumed = subprocess.run(
        [*command[:-2], "--batch-size", "500"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"  trips_trip: {1_200 - kept:,} rows read, {1_200 - kept:,} inserted" in resumed.stdout
    assert resumed.stdout.splitlines()[-1] == "trips: all 5 tables match."
