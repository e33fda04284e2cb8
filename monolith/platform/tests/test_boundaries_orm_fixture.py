"""The ORM boundary checks over a fixture project that plants one violation per rule.

The fixture project (``boundary_fixtures/orm``) runs ``manage.py check`` in a subprocess with its
own settings. Each planted violation sits on the line after a ``planted: <rule>`` comment, so the
expected report is read from the fixture's source rather than repeated here.
"""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from monolith.platform.boundaries.baseline import baseline_write
from monolith.platform.boundaries.orm import BASELINE_STALE_ID, ORM_RULES, RULE_IDS
from monolith.platform.boundaries.violations import Violation

ROOT = Path(settings.BASE_DIR)
FIXTURE = ROOT / "boundary_fixtures" / "orm"
PLANTED = re.compile(r"planted: ([a-z-]+)")
ERROR_LINE = re.compile(
    r"^(?P<obj>\S+): \((?P<id>boundaries\.E\d+)\) (?P<file>\S+):(?P<line>\d+) (?P<rule>\S+) "
    r"(?P<message>.*)$"
)


@dataclass(frozen=True)
class Reported:
    check_id: str
    obj: str
    file: str
    line: int
    rule: str
    message: str
    hint: str


@dataclass(frozen=True)
class CheckRun:
    returncode: int
    output: str
    reported: list[Reported]

    def orm(self) -> list[Reported]:
        return [item for item in self.reported if item.rule in ORM_RULES]


def check_run(tmp_path: Path, baseline: Path | None = None, *tags: str) -> CheckRun:
    env = {
        **os.environ,
        "BOUNDARIES_BASELINE": str(baseline or tmp_path / "no-baseline.json"),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "django", "check", "--settings=boundary_fixtures.orm.settings"]
    for tag in tags:
        command += ["--tag", tag]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    lines = output.splitlines()
    reported = []
    for index, text in enumerate(lines):
        match = ERROR_LINE.match(text)
        if not match:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        reported.append(
            Reported(
                check_id=match["id"],
                obj=match["obj"],
                file=match["file"],
                line=int(match["line"]),
                rule=match["rule"],
                message=match["message"],
                hint=following.strip().removeprefix("HINT: ") if "HINT:" in following else "",
            )
        )
    return CheckRun(done.returncode, output, reported)


def planted() -> set[tuple[str, int, str]]:
    """(file, line, rule) of every violation the fixture plants."""
    found = set()
    for path in sorted(FIXTURE.rglob("*.py")):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = PLANTED.search(text)
            if match:
                found.add((path.relative_to(ROOT).as_posix(), number + 1, match[1]))
    return found


@pytest.fixture(scope="module")
def unbaselined(tmp_path_factory: pytest.TempPathFactory) -> CheckRun:
    return check_run(tmp_path_factory.mktemp("orm-check"))


def test_fixture_plants_every_orm_rule() -> None:
    assert {rule for _, _, rule in planted()} == ORM_RULES


def test_each_planted_violation_is_reported_at_its_file_and_line(unbaselined: CheckRun) -> None:
    reported = {(item.file, item.line, item.rule) for item in unbaselined.orm()}
    assert reported == planted()


def test_each_rule_reports_with_its_own_check_id(unbaselined: CheckRun) -> None:
    assert unbaselined.orm()
    for item in unbaselined.orm():
        assert item.check_id == RULE_IDS[item.rule]
    assert len(set(RULE_IDS.values())) == len(RULE_IDS)


def test_violations_make_the_check_command_fail(unbaselined: CheckRun) -> None:
    assert unbaselined.returncode != 0
    assert "SystemCheckError" in unbaselined.output


def test_clean_and_lender_modules_produce_nothing(unbaselined: CheckRun) -> None:
    files = {item.file for item in unbaselined.reported}
    assert not [file for file in files if "/fixture_clean/" in file]
    assert not [file for file in files if "/fixture_lender/" in file]
    assert "fixture_clean" not in unbaselined.output


def test_every_error_names_both_modules_and_the_fix(unbaselined: CheckRun) -> None:
    for item in unbaselined.orm():
        assert "fixture_borrower" in item.file
        assert "fixture_lender" in item.message
        assert "fixture_lender" in item.hint
        assert re.search(
            r"UUIDField|fixture_lender\.api|fixture_lender\.events|migration", item.hint
        )


@pytest.mark.parametrize(
    ("rule", "obj", "words"),
    [
        (
            "fk-cross-module",
            "fixture_borrower.Application.lender",
            "inherited from boundary_fixtures.orm.fixture_borrower.models.LenderLinked",
        ),
        (
            "fk-cross-module",
            "fixture_borrower.Membership.lender",
            "through model of fixture_borrower.Syndicate.lenders",
        ),
        ("fk-cross-module", "fixture_borrower.Syndicate.lenders", "ManyToManyField"),
        ("fk-cross-module", "fixture_borrower.Portfolio.loans", "ManyToManyField"),
        ("fk-cross-module", "fixture_borrower.Guarantee.loan", "OneToOneField"),
        ("fk-cross-module", "fixture_borrower.PriorityLoan.loan_ptr", "multi-table inheritance"),
        ("generic-fk-cross-module", "fixture_borrower.Dossier.notes", "GenericRelation"),
        ("generic-fk-cross-module", "fixture_borrower.Tag.content_type", "content type of tagged"),
        ("migration-cross-dependency", "fixture_borrower.0001_initial", "fixture_lender.0001"),
        ("migration-foreign-table", "fixture_borrower.0002_lender_data", "runs SQL on"),
        ("migration-foreign-table", "fixture_borrower.0002_lender_data", "RunPython loads"),
        (
            "migration-foreign-table",
            "fixture_borrower.0002_lender_data",
            "RunPython runs SQL on fixture_lender_loan, a table of module fixture_lender",
        ),
        (
            "migration-foreign-table",
            "fixture_borrower.0002_lender_data",
            "RunPython runs SQL on fixture_lender_note, a table of module fixture_lender",
        ),
        ("signal-cross-module", "?", "loan_saved receives post_save from fixture_lender.Loan"),
        ("signal-cross-module", "?", "loan_deleted receives post_delete from fixture_lender.Loan"),
        ("get-model-cross-module", "?", "loads fixture_lender.Lender with get_model()"),
    ],
)
def test_each_shape_is_named_in_the_message(
    unbaselined: CheckRun, rule: str, obj: str, words: str
) -> None:
    assert [
        item
        for item in unbaselined.orm()
        if item.rule == rule and item.obj == obj and words in item.message
    ]


def test_each_violation_is_reported_once(unbaselined: CheckRun) -> None:
    # loan_deleted is connected twice (plainly and through functools.partial): two connect
    # calls, two lines, never the same line twice.
    keys = [(item.file, item.line, item.rule, item.message) for item in unbaselined.orm()]
    assert len(keys) == len(set(keys))
    deleted = [item for item in unbaselined.orm() if "loan_deleted receives" in item.message]
    assert {item.file for item in deleted} == {"boundary_fixtures/orm/fixture_borrower/apps.py"}
    assert len(deleted) == 2


def _as_violations(run: CheckRun) -> list[Violation]:
    return [
        Violation(item.file, item.line, item.rule, item.message, item.hint) for item in run.orm()
    ]


def test_baselined_violations_do_not_fail(unbaselined: CheckRun, tmp_path: Path) -> None:
    baseline = baseline_write(_as_violations(unbaselined), tmp_path / "todo.json")
    run = check_run(tmp_path, baseline, "boundaries_orm")
    assert run.returncode == 0, run.output
    assert run.reported == []


def test_a_stale_entry_alone_is_a_warning_that_does_not_fail_the_check(
    unbaselined: CheckRun, tmp_path: Path
) -> None:
    violations = _as_violations(unbaselined)
    counts = Counter((violation.file, violation.rule) for violation in violations)
    counts[("boundary_fixtures/orm/fixture_borrower/models.py", "fk-cross-module")] += 1
    baseline = tmp_path / "todo.json"
    todo = [{"file": f, "rule": r, "count": c} for (f, r), c in sorted(counts.items())]
    baseline.write_text(json.dumps({"version": 1, "todo": todo}))

    run = check_run(tmp_path, baseline, "boundaries_orm")

    assert run.returncode == 0, run.output
    assert run.reported == []
    (stale,) = [text for text in run.output.splitlines() if BASELINE_STALE_ID in text]
    assert "baseline-stale the baseline allows 7 fk-cross-module here but 6 remain" in stale


def test_unbaselined_and_stale_entries_fail_and_import_entries_are_left_alone(
    unbaselined: CheckRun, tmp_path: Path
) -> None:
    violations = _as_violations(unbaselined)
    # Signals are left out of the baseline, so they stay errors.
    kept = [violation for violation in violations if violation.rule != "signal-cross-module"]
    counts = Counter((violation.file, violation.rule) for violation in kept)
    models_file = "boundary_fixtures/orm/fixture_borrower/models.py"
    # One more than remains: the ratchet says the entry must be lowered.
    counts[(models_file, "fk-cross-module")] += 1
    # The import check's entry is its business, not the ORM check's.
    counts[("boundary_fixtures/orm/fixture_clean/services.py", "import-private")] = 1
    baseline = tmp_path / "todo.json"
    todo = [
        {"file": file, "rule": rule, "count": count}
        for (file, rule), count in sorted(counts.items())
    ]
    baseline.write_text(json.dumps({"version": 1, "todo": todo}))

    run = check_run(tmp_path, baseline, "boundaries_orm")

    assert run.returncode != 0
    assert {item.rule for item in run.orm()} == {"signal-cross-module"}
    assert len(run.orm()) == 3
    stale = [text for text in run.output.splitlines() if BASELINE_STALE_ID in text]
    assert len(stale) == 1
    assert (
        f"{models_file}:0 baseline-stale the baseline allows 7 fk-cross-module here but 6 remain"
        in stale[0]
    )
    assert "import-private" not in run.output
