"""``make run-split`` and its demo, as real processes: the monolith and the trips service under
gunicorn, each with its Celery worker and its own database, then the demo routing a cohort.

What ``make run-split`` runs after the monolith's migrations and demo data
(``python -m monolith.local_stack --split trips``), on a database made for the test; then
``python -m docs.demo_split`` against it, as ``make demo-split`` runs it; then the Ctrl-C a
terminal sends to the foreground process group.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from monolith.cohorts.rules import cohort_bucket, cohort_line, route_flag_name
from monolith.platform.deployable_process import (
    ROOT,
    database_drop,
    database_ensure,
    database_named,
    database_url,
    free_port,
)

PERCENT = "20"
NAMED = "rider01"
RIDERS = 6
# How long the stack may take to come up or go down before the test gives up on it: a bound
# on a hang, not a measure of speed.
GIVE_UP_SECONDS = 180
ROW = re.compile(r"^  (rider\d+)\s+(service|monolith)\s+(\d+)  ", re.MULTILINE)


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=GIVE_UP_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _pairs(database: str, query: str) -> dict[str, str]:
    """The first column of ``query``'s rows mapped to the second, both as text."""
    with psycopg.connect(database) as db:
        return {str(key): str(value) for key, value in db.execute(query).fetchall()}


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc (gunicorn's workers, Celery's pool)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def monolith_database() -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_split_{uuid.uuid4().hex[:8]}"
    url = database_url({**connection.settings_dict, "NAME": name})
    database_ensure(url)
    try:
        yield url
    finally:
        database_drop(url)
        database_drop(database_named(url, f"{name}_trips_service"))


def test_the_split_stack_serves_a_routed_cohort_from_the_service_and_stops_on_ctrl_c(
    monolith_database: str, tmp_path: Path
) -> None:
    keys = f"fleet-test:split:{uuid.uuid4().hex}:"
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": monolith_database,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_BROKER_KEY_PREFIX": keys,
        "COHORT_ROUTING_KEY_PREFIX": keys,
        "DJANGO_SETTINGS_MODULE": "monolith.settings.local",
        "FLEET_DATA_DIR": str(tmp_path),
    }
    _run(env, "manage.py", "migrate", "--no-input", "-v0")
    _run(env, "manage.py", "fleet_demo", "--vehicles", "12", "--riders", str(RIDERS),
         "--trips-per-rider", "2")  # fmt: skip
    monolith_port, service_port = free_port(), free_port()
    monolith_url = f"http://127.0.0.1:{monolith_port}"
    log = tmp_path / "stack.log"
    with log.open("wb") as output:
        stack = subprocess.Popen(
            [sys.executable, "-m", "monolith.local_stack", "--bind", f"127.0.0.1:{monolith_port}",
             "--split", "trips", "--service-bind", f"127.0.0.1:{service_port}"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            # Its own process group, as a terminal's foreground job: the Ctrl-C below goes to it.
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while "Running split" not in log.read_text(errors="replace"):
            assert stack.poll() is None, (
                f"the stack exited with {stack.returncode}:\n"
                + (log.read_text(errors="replace")[-4000:])
            )
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            time.sleep(0.5)
        started = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{service_port}/" in started
        assert f"rider01..rider{RIDERS:02d}" in started
        assert "trips: all 5 tables match." in started  # the backfill's comparison

        # The service's own database: the module's tables and the platform's, no other module's.
        service_database = database_named(
            monolith_database, f"{monolith_database.rsplit('/', 1)[1]}_trips_service"
        )
        owners = {
            table.split("_", 1)[0]
            for table in _pairs(
                service_database,
                "SELECT tablename, schemaname FROM pg_tables WHERE schemaname = 'public'",
            )
        }
        assert owners & {"vehicles", "users", "trips", "billing"} == {"trips"}

        demo = _run(env, "-m", "docs.demo_split", "--monolith", monolith_url,
                    "--percent", PERCENT, "--add-user", NAMED)  # fmt: skip
    finally:
        below = _descendants(stack.pid)
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)
        try:
            stopped = stack.wait(timeout=GIVE_UP_SECONDS)
        finally:
            for pid in below:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)

    accounts = _pairs(
        monolith_database, r"SELECT username, id FROM accounts_user WHERE username ~ '^rider\d+$'"
    )
    line = cohort_line(Decimal(PERCENT))
    expected = {
        username: "service"
        if username == NAMED or cohort_bucket(route_flag_name("trips"), account) < line
        else "monolith"
        for username, account in accounts.items()
    }
    served = {username: side for username, side, _ in ROW.findall(demo)}
    assert served == expected, demo
    service_count = sum(side == "service" for side in expected.values())
    assert f"Split: {service_count} of {RIDERS} riders served by the trips service" in demo
    assert f"Asked again: {RIDERS} of {RIDERS} riders answered by the same side." in demo
    assert f"After the rollback: Split: 0 of {RIDERS} riders served by the trips service" in demo

    # Each rider's trips, whichever side answered, are the monolith's rows: backfilled.
    trips = _pairs(
        monolith_database,
        "SELECT u.username, count(t.id) FROM accounts_user u "
        "LEFT JOIN trips_trip t ON t.rider_id = u.id GROUP BY u.username",
    )
    assert {username: count for username, _, count in ROW.findall(demo)} == {
        username: trips[username] for username in accounts
    }
    in_service = _pairs(service_database, "SELECT 'trips', count(*) FROM trips_trip")
    assert in_service == {"trips": str(sum(int(trips[username]) for username in accounts))}

    # Ctrl-C stopped everything: gunicorn's masters and workers, both Celery workers.
    assert stopped == 0, log.read_text(errors="replace")[-4000:]
    assert below, "the stack had no processes under it"
    assert not [pid for pid in below if _alive(pid)]
    assert "SIGKILL" not in log.read_text(errors="replace")
