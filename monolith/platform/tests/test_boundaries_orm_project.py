"""The ORM boundary checks over the real project: the four modules pass with an empty baseline."""

import ast
import json
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from monolith.platform.boundaries.orm import (
    BASELINE_STALE_ID,
    BASELINE_UNREADABLE_ID,
    ORM_RULES,
    get_model_target,
    orm_check_messages,
    orm_violations,
    sql_identifiers,
)


def test_the_four_modules_have_no_orm_violations() -> None:
    assert orm_violations() == []


def test_the_check_passes_with_the_empty_baseline() -> None:
    assert orm_check_messages(allowed=Counter()) == []
    call_command("check", tags=["boundaries_orm"])


def test_the_check_is_registered_under_the_boundaries_tag() -> None:
    registered = [
        check for check in checks.registry.registry.get_checks() if "boundaries" in check.tags
    ]
    assert any(getattr(check, "__name__", "") == "boundaries_orm_check" for check in registered)


def test_a_stale_orm_entry_is_a_warning_that_blocks_no_command() -> None:
    allowed = Counter({("modules/trips/models.py", "fk-cross-module"): 2})

    messages = orm_check_messages(allowed=allowed)

    assert [message.id for message in messages] == [BASELINE_STALE_ID] == ["boundaries.W020"]
    assert isinstance(messages[0], checks.Warning)
    assert not messages[0].is_serious()
    assert messages[0].msg.startswith(
        "modules/trips/models.py:0 baseline-stale the baseline allows 2 fk-cross-module here but 0"
    )


def _stale_baseline(tmp_path: Path) -> Path:
    baseline = tmp_path / "todo.json"
    todo = [{"file": "modules/trips/models.py", "rule": "fk-cross-module", "count": 2}]
    baseline.write_text(json.dumps({"version": 1, "todo": todo}))
    return baseline


def test_a_stale_entry_lets_the_system_check_pass(tmp_path: Path, settings: Any) -> None:
    settings.BOUNDARIES_BASELINE = str(_stale_baseline(tmp_path))
    # makemigrations, migrate and runserver run these checks: a warning must not stop them.
    call_command("check", tags=["boundaries_orm"], stdout=StringIO(), stderr=StringIO())
    messages = checks.run_checks(tags=["boundaries_orm"])
    assert [message.id for message in messages] == [BASELINE_STALE_ID]


def test_the_modules_check_command_still_fails_on_a_stale_orm_entry(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="1 stale baseline entries"):
        call_command(
            "modules", "check", "--baseline", str(_stale_baseline(tmp_path)), stdout=StringIO()
        )


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"version": 99, "todo": []}', '{"version": 1}', '{"version": 1, "todo": [1]}'],
)
def test_an_unreadable_baseline_is_one_error_not_a_traceback(
    tmp_path: Path, settings: Any, content: str
) -> None:
    baseline = tmp_path / "boundaries-todo.json"
    baseline.write_text(content)
    settings.BOUNDARIES_BASELINE = str(baseline)

    messages = checks.run_checks(tags=["boundaries_orm"])

    (message,) = messages
    assert message.id == BASELINE_UNREADABLE_ID == "boundaries.E021"
    assert message.is_serious()
    assert "\n" not in message.msg
    assert "boundaries-todo.json" in message.msg
    assert message.hint == "regenerate it: python manage.py modules baseline"
    with pytest.raises(SystemCheckError, match=r"boundaries\.E021"):
        call_command("check", tags=["boundaries_orm"], stdout=StringIO(), stderr=StringIO())


def test_entries_of_other_rules_are_not_the_orm_checks_business() -> None:
    allowed = Counter(
        {
            ("modules/trips/services.py", "import-private"): 1,
            ("modules/trips/services.py", "sql-foreign-table"): 3,
        }
    )

    assert orm_check_messages(allowed=allowed) == []


def test_checking_one_app_judges_only_its_stale_entries() -> None:
    from django.apps import apps

    allowed = Counter({("modules/trips/models.py", "fk-cross-module"): 1})

    assert orm_check_messages([apps.get_app_config("billing")], allowed=allowed) == []
    assert len(orm_check_messages([apps.get_app_config("trips")], allowed=allowed)) == 1


def test_orm_rules_are_the_documented_names() -> None:
    assert {
        "fk-cross-module",
        "generic-fk-cross-module",
        "migration-cross-dependency",
        "migration-foreign-table",
        "get-model-cross-module",
        "signal-cross-module",
    } == ORM_RULES


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ('apps.get_model("trips", "Trip")', ("trips", "Trip")),
        ('apps.get_model("trips.Trip")', ("trips", "Trip")),
        ('django.apps.apps.get_model("trips", model_name="Trip")', ("trips", "Trip")),
        ('apps.get_model(app_label="trips", model_name="Trip")', ("trips", "Trip")),
        ('apps.get_app_config("trips").get_model("Trip")', ("trips", "Trip")),
        ('apps.get_registered_model("trips", "Trip")', ("trips", "Trip")),
        ('self.get_model("Trip")', None),
        ("apps.get_model(label, name)", None),
        ('get_user_model("x.Y")', None),
    ],
)
def test_get_model_calls_are_read_from_source(source: str, target: tuple[str, str] | None) -> None:
    call = ast.parse(source, mode="eval").body

    assert get_model_target(call) == target


@pytest.mark.parametrize(
    ("sql", "present", "absent"),
    [
        ("UPDATE trips_trip SET x = 1", {"trips_trip"}, set()),
        ('SELECT * FROM "public"."trips_trip" t', {"trips_trip", "public"}, set()),
        ('SELECT * FROM "Trips_Trip"', {"Trips_Trip"}, {"trips_trip"}),
        ("SELECT * FROM TRIPS_TRIP", {"trips_trip"}, set()),
        ("SELECT 'trips_trip' -- trips_trip\n/* trips_trip */", set(), {"trips_trip"}),
        (
            "CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN DELETE FROM billing_invoice; "
            "END; $body$ LANGUAGE plpgsql",
            {"billing_invoice"},
            set(),
        ),
    ],
)
def test_sql_identifiers_are_read_as_postgresql_reads_them(
    sql: str, present: set[str], absent: set[str]
) -> None:
    found = sql_identifiers(sql)

    assert present <= found
    assert not absent & found
