"""The guard in a process of its own: installed by the platform's ready(), as every command is.

``manage.py shell -c`` runs fixture code that reads trips' table as billing, on the test
database, with ``boundary_fixtures.sql_guard.settings`` choosing the mode.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from monolith.platform.deployable_process import database_url

ROOT = Path(__file__).resolve().parents[3]
SWALLOWS = "boundary_fixtures/sql_guard/swallows.py"
READ_AS_BILLING = (
    "from boundary_fixtures.sql_guard import reader_load; "
    "print('trips counted', reader_load('modules.billing.sql_guard_reader').trips_count_quoted())"
)


def shell_run(mode: str) -> subprocess.CompletedProcess[str]:
    url = database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "boundary_fixtures.sql_guard.settings",
        "FIXTURE_SQL_GUARD": mode,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", READ_AS_BILLING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def guard_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The guard's JSON log lines, whichever stream the logging handler writes to."""
    output = (result.stdout + result.stderr).splitlines()
    lines = [json.loads(line) for line in output if line.startswith("{")]
    return [line for line in lines if line["logger"] == "fleet.boundaries"]


@pytest.mark.django_db
def test_a_command_raises_in_raise_mode() -> None:
    result = shell_run("raise")
    assert result.returncode != 0
    assert "trips counted" not in result.stdout
    assert "ForeignTableQuery: boundary_fixtures/sql_guard/readers.py:" in result.stderr
    assert "sql-foreign-table module billing runs SQL on table trips_trip" in result.stderr


@pytest.mark.django_db
def test_a_command_logs_a_json_warning_in_warn_mode_and_runs_the_statement() -> None:
    result = shell_run("warn")
    assert result.returncode == 0, result.stderr
    assert "trips counted 0" in result.stdout
    (line,) = guard_lines(result)
    assert line["level"] == "WARNING"
    assert line["rule"] == "sql-foreign-table"
    assert (line["fleet_module"], line["owner_module"], line["table"]) == (
        "billing",
        "trips",
        "trips_trip",
    )
    assert line["location"].startswith("boundary_fixtures/sql_guard/readers.py:")


@pytest.mark.django_db
def test_a_command_is_not_judged_in_off_mode() -> None:
    result = shell_run("off")
    assert result.returncode == 0, result.stderr
    assert "trips counted 0" in result.stdout
    assert guard_lines(result) == []


def test_a_test_that_swallows_the_refusal_fails_at_teardown() -> None:
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", SWALLOWS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # The teardown error is the swallowing test's; the one that takes the record passes.
    assert "2 passed, 1 error" in output, output
    assert "ERROR at teardown of test_swallows_the_refusal" in output
    assert "the SQL guard refused statements during this test:" in output
    assert "boundary_fixtures/sql_guard/readers.py:" in output
    assert "sql-foreign-table module billing runs SQL on table trips_trip" in output
