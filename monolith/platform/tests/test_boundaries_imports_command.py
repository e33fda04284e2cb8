"""``python manage.py modules``: the listing, the check with its baseline, and its exit codes."""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from monolith.platform.boundaries.baseline import BaselineUnreadable, baseline_load

ROOT = Path(settings.BASE_DIR)
FIXTURE_SETTINGS = "boundary_fixtures.imports.settings"
FIXTURE_DIR = "boundary_fixtures/imports/fleet"
LINE = re.compile(
    r"^(?P<file>\S+):(?P<line>\d+) (?P<rule>[a-z-]+) (?P<message>.+) \((?P<fix>.+)\)$"
)
PLANTED = {
    (f"{FIXTURE_DIR}/charging/services.py", "import-private"),
    (f"{FIXTURE_DIR}/courier/services.py", "import-private"),
    (f"{FIXTURE_DIR}/dispatch/services.py", "import-undeclared"),
    (f"{FIXTURE_DIR}/fares/apps.py", "import-cycle"),
    (f"{FIXTURE_DIR}/ledger/services.py", "import-private"),
    (f"{FIXTURE_DIR}/parking/services.py", "import-cycle"),
    (f"{FIXTURE_DIR}/parking/services.py", "import-undeclared"),
    (f"{FIXTURE_DIR}/rental/apps.py", "depends-unknown"),
    (f"{FIXTURE_DIR}/scanner/tests/test_scanner.py", "import-private"),
    (f"{FIXTURE_DIR}/towing/services.py", "import-undeclared"),
}
# ledger/services.py holds two import-private lines; every other entry holds one.
PLANTED_COUNT = len(PLANTED) + 1


def fixture_apps() -> list[str]:
    fixture = importlib.import_module(FIXTURE_SETTINGS)
    real = set(settings.FLEET_MODULES)
    return [app for app in settings.INSTALLED_APPS if app not in real] + fixture.FIXTURE_MODULES


@pytest.fixture
def fixture_project() -> Iterator[None]:
    """The fixture modules installed in place of the real four."""
    with override_settings(INSTALLED_APPS=fixture_apps()):
        yield


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("modules", *args, stdout=out, stderr=err, no_color=True)
    return out.getvalue(), err.getvalue()


def failing_lines(*args: str) -> tuple[list[str], str]:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("modules", *args, stdout=out, no_color=True)
    return out.getvalue().splitlines(), str(raised.value)


def manage(
    *args: str, cwd: Path = ROOT, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath or str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = (
        [sys.executable, str(ROOT / "manage.py"), *args]
        if cwd == ROOT
        else [sys.executable, "-m", "django", *args]
    )
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# --- modules / modules list -----------------------------------------------------------------


def test_list_describes_each_real_module() -> None:
    out, _ = run()
    assert out == run("list")[0]
    blocks = {block.splitlines()[0]: block for block in out.strip().split("\n\n")}
    assert list(blocks) == [
        "vehicles (modules.vehicles)",
        "users (modules.users)",
        "trips (modules.trips)",
        "billing (modules.billing)",
    ]
    trips = blocks["trips (modules.trips)"]
    assert "depends on:    vehicles (api, events), users (api)" in trips
    assert "trips_trip" in trips
    assert "trip_request" in trips
    assert "TripSummary" not in trips  # DTOs are not functions
    assert "trips.TripCompleted v1 -> billing" in trips
    assert "trips.TripCancelled v1 -> billing" in trips
    billing = blocks["billing (modules.billing)"]
    assert "depends on:    trips (api, events), users (api)" in billing
    assert "trips.TripCompleted v1 from trips" in billing
    assert "consumes:      billing.InvoiceIssued v1 from billing" in billing
    assert "billing.InvoiceIssued v1 -> " in billing
    assert "depends on:    nothing" in blocks["vehicles (modules.vehicles)"]


def test_list_reads_the_fixture_declarations(fixture_project: None) -> None:
    out, _ = run("list")
    garage = next(block for block in out.split("\n\n") if block.startswith("imports_garage"))
    assert "depends on:    imports_depot (api, events)" in garage
    assert "api functions: garage_get" in garage
    assert "consumes:      imports_depot.DepotOpened v1 from imports_depot" in garage
    depot = next(block for block in out.split("\n\n") if block.startswith("imports_depot"))
    assert "tables:        imports_depot_depot" in depot
    assert "imports_depot.DepotOpened v1 -> imports_garage" in depot


# --- modules check and the baseline -----------------------------------------------------------


def test_check_passes_on_the_real_modules_with_the_empty_baseline() -> None:
    assert baseline_load(ROOT / "boundaries-todo.json") == {}
    out, _ = run("check", "--baseline", str(ROOT / "boundaries-todo.json"))
    (line,) = out.splitlines()
    assert re.fullmatch(
        r"Module boundaries kept: 4 modules, 0 violations \(0 in the baseline, 0 new, "
        r"0 stale baseline entries\) in \d+\.\d\d s\.",
        line,
    )


def test_new_violations_fail_one_line_each(fixture_project: None, tmp_path: Path) -> None:
    lines, error = failing_lines("check", "--baseline", str(tmp_path / "todo.json"))
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert {(m["file"], m["rule"]) for m in parsed if m} == PLANTED
    assert len(lines) == PLANTED_COUNT
    assert "11 violations (0 in the baseline, 11 new, 0 stale baseline entries)" in error


def test_baselined_violations_pass(fixture_project: None, tmp_path: Path) -> None:
    todo = tmp_path / "todo.json"
    out, _ = run("baseline", "--baseline", str(todo))
    assert {
        (entry["file"], entry["rule"]) for entry in json.loads(todo.read_text())["todo"]
    } == PLANTED
    assert f"+ {FIXTURE_DIR}/courier/services.py import-private 1 (new)" in out.splitlines()
    out, _ = run("check", "--baseline", str(todo))
    assert "11 violations (11 in the baseline, 0 new, 0 stale baseline entries)" in out


def test_a_violation_beyond_the_baseline_fails(fixture_project: None, tmp_path: Path) -> None:
    todo = tmp_path / "todo.json"
    run("baseline", "--baseline", str(todo))
    data = json.loads(todo.read_text())
    data["todo"] = [e for e in data["todo"] if e["file"] != f"{FIXTURE_DIR}/dispatch/services.py"]
    todo.write_text(json.dumps(data))
    lines, error = failing_lines("check", "--baseline", str(todo))
    assert [line.split(" ")[:2] for line in lines] == [
        [f"{FIXTURE_DIR}/dispatch/services.py:3", "import-undeclared"]
    ]
    assert "1 new" in error


def test_a_fixed_violation_leaves_a_stale_entry_until_the_baseline_is_regenerated(
    fixture_project: None, tmp_path: Path
) -> None:
    todo = tmp_path / "todo.json"
    run("baseline", "--baseline", str(todo))
    data = json.loads(todo.read_text())
    # As if garage once imported depot's models and that import was removed since.
    fixed = f"{FIXTURE_DIR}/garage/services.py"
    data["todo"].append({"file": fixed, "rule": "import-private", "count": 2})
    todo.write_text(json.dumps(data))
    lines, error = failing_lines("check", "--baseline", str(todo))
    assert lines == [
        f"{fixed}:0 baseline-stale the baseline allows 2 import-private here but 0 remain "
        "(lower the count or remove the entry: python manage.py modules baseline)"
    ]
    assert "1 stale baseline entries" in error
    out, _ = run("baseline", "--baseline", str(todo))
    assert out.splitlines()[0] == f"- {fixed} import-private (was 2, fixed)"
    run("check", "--baseline", str(todo))
    out, _ = run("baseline", "--baseline", str(todo))
    assert "unchanged: 11 violations in 10 entries" in out


def test_bad_arguments_are_one_clear_line() -> None:
    with pytest.raises(CommandError, match=r"^unknown action 'draw': choose one of list, check"):
        call_command("modules", "draw")
    with pytest.raises(CommandError, match="--docs applies to graph only"):
        call_command("modules", "check", "--docs", "somewhere")
    with pytest.raises(CommandError, match="--baseline applies to check and baseline only"):
        call_command("modules", "graph", "--baseline", "todo.json")


BROKEN_BASELINES = {
    "invalid JSON": ('{"version": 1, "todo": [}', r"todo\.json:1 is not valid JSON: "),
    "merge conflict": (
        '{"version": 1, "todo": [\n<<<<<<< HEAD\n]}\n=======\n]}\n>>>>>>> theirs\n',
        r"todo\.json:2 has merge-conflict markers: ",
    ),
    "not an object": ("[1, 2]", r"todo\.json is not a baseline: expected an object .* found list"),
    "unknown version": ('{"version": 99, "todo": []}', r"unknown baseline version 99"),
    "todo not a list": ('{"version": 1, "todo": {}}', r"todo must be a list"),
    "bad entry": (
        '{"version": 1, "todo": [{"file": "a.py", "rule": "import-private", "count": "2"}]}',
        r"todo entry 0 must be \{\"file\": str, \"rule\": str, \"count\": positive int\}",
    ),
    "missing key": ('{"version": 1, "todo": [{"file": "a.py"}]}', r"todo entry 0 must be "),
}


@pytest.mark.parametrize("case", sorted(BROKEN_BASELINES))
def test_an_unreadable_baseline_is_one_error_type_with_one_line(case: str, tmp_path: Path) -> None:
    text, message = BROKEN_BASELINES[case]
    todo = tmp_path / "todo.json"
    todo.write_text(text)
    with pytest.raises(BaselineUnreadable, match=message) as raised:
        baseline_load(todo)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith(str(todo))
    with pytest.raises(CommandError, match=message) as failed:
        call_command("modules", "check", "--baseline", str(todo))
    assert str(failed.value) == str(raised.value)


def test_baseline_rewrites_an_unreadable_file_with_a_warning(
    fixture_project: None, tmp_path: Path
) -> None:
    """The escape hatch: a baseline left in conflict is read as empty and written afresh."""
    todo = tmp_path / "todo.json"
    todo.write_text(BROKEN_BASELINES["merge conflict"][0])
    out, err = run("baseline", "--baseline", str(todo))
    (warning,) = err.splitlines()
    assert warning.startswith(f"! {todo}:2 has merge-conflict markers: ")
    assert warning.endswith(": read as empty and rewritten")
    assert set(baseline_load(todo)) == PLANTED
    assert f"+ {FIXTURE_DIR}/ledger/services.py import-private 2 (new)" in out.splitlines()
    out, _ = run("check", "--baseline", str(todo))
    assert "11 violations (11 in the baseline, 0 new" in out


def test_baseline_warns_when_a_count_goes_up(fixture_project: None, tmp_path: Path) -> None:
    """modules check never lets a count rise; modules baseline can, and says so on its own line."""
    todo = tmp_path / "todo.json"
    run("baseline", "--baseline", str(todo))
    ledger = f"{FIXTURE_DIR}/ledger/services.py"
    data = json.loads(todo.read_text())
    for entry in data["todo"]:
        if entry["file"] == ledger:
            entry["count"] = 1
    todo.write_text(json.dumps(data))
    lines, _error = failing_lines("check", "--baseline", str(todo))
    source = (ROOT / ledger).read_text().splitlines()
    inner = next(n for n, text in enumerate(source, 1) if "depot.api import services" in text)
    assert [line.split(" ")[:2] for line in lines] == [[f"{ledger}:{inner}", "import-private"]]
    out, _ = run("baseline", "--baseline", str(todo))
    assert out.splitlines()[0] == f"~ {ledger} import-private 1 -> 2: the baseline grows"
    # Lowering a count is the ratchet working: no warning.
    data = json.loads(todo.read_text())
    for entry in data["todo"]:
        if entry["file"] == ledger:
            entry["count"] = 3
    todo.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="1 stale baseline entries"):
        run("check", "--baseline", str(todo))
    out, _ = run("baseline", "--baseline", str(todo))
    assert out.splitlines()[0] == f"~ {ledger} import-private 3 -> 2"


# --- the command as CI runs it ----------------------------------------------------------------


def test_subprocess_clean_repository_exits_zero() -> None:
    done = manage("modules", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Module boundaries kept: 4 modules, 0 violations")
    assert done.stderr == ""


def test_subprocess_violations_exit_non_zero_with_one_line_each(tmp_path: Path) -> None:
    done = manage(
        "modules", "check", f"--settings={FIXTURE_SETTINGS}", "--baseline", str(tmp_path / "t.json")
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert {(m["file"], m["rule"]) for line in lines if (m := LINE.match(line))} == PLANTED
    assert len(lines) == PLANTED_COUNT
    (error,) = done.stderr.splitlines()
    assert error.startswith("CommandError: module boundaries: 13 modules, 11 violations")
    assert "Traceback" not in done.stderr


def test_subprocess_unreadable_baseline_is_one_line_and_exit_one(tmp_path: Path) -> None:
    todo = tmp_path / "todo.json"
    todo.write_text(BROKEN_BASELINES["merge conflict"][0])
    done = manage("modules", "check", "--baseline", str(todo))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"CommandError: {todo}:2 has merge-conflict markers: resolve the conflict or "
        "regenerate it with python manage.py modules baseline"
    ]
    done = manage("modules", "baseline", "--baseline", str(todo))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert baseline_load(todo) == {}


def test_subprocess_bad_arguments_print_one_line_each_without_a_traceback() -> None:
    done = manage("modules", "check", "--colour", "--fast")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "modules: unknown argument --colour (see: python manage.py modules --help)",
        "modules: unknown argument --fast (see: python manage.py modules --help)",
    ]
    done = manage("modules", "draw")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "CommandError: unknown action 'draw': choose one of list, check, baseline, graph"
    ]


def test_subprocess_fixing_a_violation_ratchets_the_baseline(tmp_path: Path) -> None:
    """A copy of the fixture: baseline, fix one import, fail on the stale entry, regenerate."""
    shutil.copytree(
        ROOT / "boundary_fixtures" / "imports", tmp_path / "boundary_fixtures" / "imports"
    )
    (tmp_path / "boundary_fixtures" / "__init__.py").write_text("")
    todo = tmp_path / "todo.json"
    args = ("modules", f"--settings={FIXTURE_SETTINGS}", "--baseline", str(todo))

    def modules(action: str) -> subprocess.CompletedProcess[str]:
        # Run from the copy, so its boundary_fixtures shadows the repository's.
        return manage(args[0], action, *args[1:], cwd=tmp_path, pythonpath=str(ROOT))

    assert modules("baseline").returncode == 0
    assert modules("check").returncode == 0
    courier = tmp_path / "boundary_fixtures/imports/fleet/courier/services.py"
    courier.write_text("def courier_depot_label(*, name: str) -> str:\n    return name\n")
    done = modules("check")
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"{courier}:0 baseline-stale the baseline allows 1 import-private")
    done = modules("baseline")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == f"- {courier} import-private (was 1, fixed)"
    done = modules("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 violations (10 in the baseline, 0 new, 0 stale baseline entries)" in done.stdout
