"""Pruning: relayed outbox rows and processed inbox rows past retention go, in short batches;
unrelayed rows and parked deliveries stay; the command says what it did, one line per table."""

import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.billing.models import Inbox as BillingInbox
from modules.billing.models import ParkedDelivery as BillingParkedDelivery
from modules.trips.models import Inbox as TripsInbox
from modules.trips.models import Outbox as TripsOutbox
from modules.vehicles.models import Outbox as VehiclesOutbox
from monolith.platform.deployable_process import ROOT
from monolith.platform.outbox.pruning import events_prune, prune_retentions
from monolith.platform.tasks import events_prune as events_prune_task

pytestmark = pytest.mark.django_db


def _days_ago(days: float) -> Any:
    return timezone.now() - timedelta(days=days)


def _outbox_row(table: Any, *, occurred_days: float, relayed_days: float | None) -> Any:
    return table.objects.create(
        name="vehicles.VehicleStatusChanged",
        aggregate_id=str(uuid.uuid4()),
        payload={},
        occurred_at=_days_ago(occurred_days),
        relayed_at=None if relayed_days is None else _days_ago(relayed_days),
    )


def _inbox_row(table: Any, subscriber: str, *, processed_days: float) -> Any:
    row = table.objects.create(event_id=uuid.uuid4(), subscriber=subscriber)
    # processed_at is set on insert (auto_now_add); age it afterwards.
    table.objects.filter(pk=row.pk).update(processed_at=_days_ago(processed_days))
    return row


def _parked(*, parked_days: float) -> Any:
    return BillingParkedDelivery.objects.create(
        event_id=uuid.uuid4(),
        event_name="trips.TripCompleted",
        publisher="trips",
        subscriber="billing",
        payload={},
        attempts=5,
        last_error="RuntimeError: boom",
        parked_at=_days_ago(parked_days),
    )


@pytest.fixture
def retention(settings: Any) -> None:
    settings.FLEET_OUTBOX_RETENTION_DAYS = 7
    settings.FLEET_INBOX_RETENTION_DAYS = 14
    settings.FLEET_EVENTS_PRUNE_BATCH = 1000


def test_old_relayed_and_processed_rows_go_everywhere_the_rest_stays(retention: None) -> None:
    old_vehicles = _outbox_row(VehiclesOutbox, occurred_days=9, relayed_days=8)
    old_trips = _outbox_row(TripsOutbox, occurred_days=30, relayed_days=30)
    recent = _outbox_row(VehiclesOutbox, occurred_days=6, relayed_days=6)
    unrelayed = _outbox_row(TripsOutbox, occurred_days=60, relayed_days=None)
    old_billing_inbox = _inbox_row(BillingInbox, "billing", processed_days=15)
    old_trips_inbox = _inbox_row(TripsInbox, "trips", processed_days=20)
    kept_inbox = _inbox_row(BillingInbox, "billing", processed_days=13)
    parked = _parked(parked_days=400)

    tables = {(t.kind, t.module): t.deleted for t in events_prune()}

    assert tables[("outbox", "vehicles")] == 1
    assert tables[("outbox", "trips")] == 1
    assert tables[("inbox", "billing")] == 1
    assert tables[("inbox", "trips")] == 1
    assert not VehiclesOutbox.objects.filter(pk=old_vehicles.pk).exists()
    assert not TripsOutbox.objects.filter(pk=old_trips.pk).exists()
    assert not BillingInbox.objects.filter(pk=old_billing_inbox.pk).exists()
    assert not TripsInbox.objects.filter(pk=old_trips_inbox.pk).exists()
    # Recent rows, an unrelayed row however old, and parked deliveries stay.
    assert VehiclesOutbox.objects.filter(pk=recent.pk).exists()
    assert TripsOutbox.objects.filter(pk=unrelayed.pk).exists()
    assert BillingInbox.objects.filter(pk=kept_inbox.pk).exists()
    assert BillingParkedDelivery.objects.filter(pk=parked.pk).exists()


def test_rows_go_in_bounded_batches_oldest_first(retention: None, settings: Any) -> None:
    settings.FLEET_EVENTS_PRUNE_BATCH = 2
    for age in range(10, 15):
        _outbox_row(VehiclesOutbox, occurred_days=age, relayed_days=age)
    progress: list[tuple[str, int, bool]] = []

    with CaptureQueriesContext(connection) as queries:
        tables = events_prune(progress=lambda t: progress.append((t.table, t.deleted, t.finished)))

    assert [t.deleted for t in tables if t.table == "vehicles_outbox"] == [5]
    assert [p for p in progress if p[0] == "vehicles_outbox"] == [
        ("vehicles_outbox", 2, False),
        ("vehicles_outbox", 4, False),
        ("vehicles_outbox", 5, True),
    ]
    assert [p[0] for p in progress if p[2]] == [t.table for t in tables]
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    vehicles_deletes = [sql for sql in deletes if '"vehicles_outbox"' in sql]
    # Three batches and no fourth: the last one came back short.
    assert len(vehicles_deletes) == 3
    assert all(
        re.search(r'ORDER BY \w+\."relayed_at" ASC LIMIT 2\)$', sql) for sql in vehicles_deletes
    )
    # One statement per batch on every table, never one per row.
    assert len(deletes) == 3 + len(tables) - 1


def test_a_dry_run_counts_and_deletes_nothing(retention: None) -> None:
    _outbox_row(VehiclesOutbox, occurred_days=8, relayed_days=8)
    _inbox_row(BillingInbox, "billing", processed_days=15)

    tables = events_prune(dry_run=True)

    assert sum(t.deleted for t in tables) == 2
    assert VehiclesOutbox.objects.count() == 1
    assert BillingInbox.objects.count() == 1


def test_a_shorter_retention_asked_for_applies_to_outboxes_only(retention: None) -> None:
    assert prune_retentions(None) == (7, 14)
    assert prune_retentions(2) == (2, 14)  # the inbox keeps its setting
    assert prune_retentions(30) == (30, 30)  # and never less than the outbox
    _outbox_row(VehiclesOutbox, occurred_days=3, relayed_days=3)
    _inbox_row(BillingInbox, "billing", processed_days=3)

    events_prune(older_than_days=2)

    assert not VehiclesOutbox.objects.exists()
    assert BillingInbox.objects.count() == 1


def test_the_command_reports_progress_per_table_and_the_total(
    retention: None, settings: Any
) -> None:
    _outbox_row(VehiclesOutbox, occurred_days=8, relayed_days=7.5)
    _outbox_row(VehiclesOutbox, occurred_days=9, relayed_days=9)
    _inbox_row(TripsInbox, "trips", processed_days=15)
    out = StringIO()

    call_command("events", "prune", "--dry-run", stdout=out)
    assert "vehicles_outbox (default): would delete 2 rows relayed more than 7 days ago" in (
        out.getvalue()
    )
    assert VehiclesOutbox.objects.count() == 2

    out = StringIO()
    call_command("events", "prune", "--older-than", "8", stdout=out)
    lines = out.getvalue().splitlines()
    assert "vehicles_outbox (default): deleted 1 rows relayed more than 8 days ago" in lines
    assert "trips_inbox (default): deleted 1 rows processed more than 14 days ago" in lines
    assert lines[-1].endswith("deleted 2 rows in all.")
    assert VehiclesOutbox.objects.count() == 1

    settings.FLEET_EVENTS_PRUNE_BATCH = 1
    _inbox_row(TripsInbox, "trips", processed_days=15)
    _inbox_row(TripsInbox, "trips", processed_days=16)
    out = StringIO()
    call_command("events", "prune", stdout=out)
    lines = out.getvalue().splitlines()
    # A table that takes several batches says how far it got after each one.
    start = lines.index("  trips_inbox (default): 1 deleted so far")
    assert lines[start : start + 3] == [
        "  trips_inbox (default): 1 deleted so far",
        "  trips_inbox (default): 2 deleted so far",
        "trips_inbox (default): deleted 2 rows processed more than 14 days ago",
    ]


def test_the_daily_task_prunes(retention: None) -> None:
    _outbox_row(TripsOutbox, occurred_days=8, relayed_days=8)
    assert events_prune_task() == 1
    assert not TripsOutbox.objects.exists()
    entry = django_settings.CELERY_BEAT_SCHEDULE["platform.events_prune"]
    assert entry["task"] == "platform.events_prune"
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    # Daily, once, at a quiet hour: minute 40 of hour 3, every day of every month.
    assert "40 3 * * *" in str(schedule)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "monolith.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("prune", "--older-than", "soon"), "argument --older-than: 'soon' is not a whole number"),
        (("prune", "--older-than", "0"), "argument --older-than: must be at least 1 day, not 0"),
        (("purge",), "argument action: invalid choice: 'purge'"),
        (("prune", "--now"), "unrecognized arguments: --now"),
    ],
)
def test_a_bad_argument_is_one_line(args: tuple[str, ...], message: str) -> None:
    result = _manage("events", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("events: ")
    assert message in result.stderr


def test_settings_refuse_an_inbox_kept_shorter_than_the_outbox() -> None:
    result = _manage(
        "events", "list", FLEET_OUTBOX_RETENTION_DAYS="10", FLEET_INBOX_RETENTION_DAYS="5"
    )
    assert result.returncode != 0
    assert "FLEET_INBOX_RETENTION_DAYS=5 must be at least FLEET_OUTBOX_RETENTION_DAYS=10" in (
        result.stderr
    )
