"""The runtime SQL guard against real PostgreSQL.

``boundary_fixtures/sql_guard/readers.py`` is loaded under fleet module names
(``modules.billing.sql_guard_reader``), so its statements count as that module's code; the
statements this test file issues itself are platform code.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.backends.signals import connection_created
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client import REGISTRY

from boundary_fixtures.sql_guard import READERS, reader_load
from modules.users import api as users_api
from monolith.platform.boundaries import sql_guard
from monolith.platform.boundaries.sql_guard import (
    ForeignTableQuery,
    sql_guard_install,
    sql_guard_installed,
    sql_guard_violations_take,
)

READERS_FILE = "boundary_fixtures/sql_guard/readers.py"
FIX = "ask through trips.api or subscribe to trips.events instead of using its table"


def line_of(text: str) -> int:
    """The line of ``readers.py`` that holds ``text`` (exactly one does)."""
    (line,) = [
        number
        for number, source in enumerate(READERS.read_text().splitlines(), start=1)
        if text in source
    ]
    return line


def violations_counted(module: str, owner: str) -> float:
    labels = {"module": module, "owner": owner, "rule": "sql-foreign-table"}
    return REGISTRY.get_sample_value("fleet_boundary_violations_total", labels) or 0.0


@pytest.fixture
def guard_mode(settings: Any) -> Callable[[str], None]:
    """Switch the guard's mode for one test (the setting change re-installs it)."""
    sql_guard._Guard.warned.clear()

    def switch(mode: str) -> None:
        settings.BOUNDARIES_SQL_GUARD = mode

    switch("raise")
    return switch


@pytest.fixture
def billing_reader(guard_mode: Callable[[str], None]) -> ModuleType:
    return reader_load("modules.billing.sql_guard_reader")


@pytest.fixture
def trips_reader(guard_mode: Callable[[str], None]) -> ModuleType:
    return reader_load("modules.trips.sql_guard_reader")


@pytest.fixture
def guard_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="fleet.boundaries"):
        yield caplog


def guard_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "fleet.boundaries"]


# Finding tables in SQL


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "trips_trip"."id" FROM "trips_trip"', (("trips_trip", "trips"),)),
        ("select count(*) from trips_trip where id = %s", (("trips_trip", "trips"),)),
        (
            'SELECT 1 FROM "billing_invoice" JOIN "trips_trip" ON true',
            (("billing_invoice", "billing"), ("trips_trip", "trips")),
        ),
        ('SELECT 1 FROM "accounts_user" JOIN "waffle_flag" ON true', ()),
        ('SELECT 1 FROM "trips_trip_archive"', ()),
        ("SELECT 1 FROM trips_trips", ()),
        ("SAVEPOINT s1", ()),
        # Unquoted names fold to lower case, as PostgreSQL reads them; quoted ones stay exact.
        ("SELECT count(*) FROM TRIPS_TRIP", (("trips_trip", "trips"),)),
        ("Select 1 From Trips_Trip", (("trips_trip", "trips"),)),
        ("SELECT count(*) FROM public.trips_trip", (("trips_trip", "trips"),)),
        ('SELECT count(*) FROM "public"."trips_trip"', (("trips_trip", "trips"),)),
        ("SELECT count(*) FROM PUBLIC.TRIPS_TRIP", (("trips_trip", "trips"),)),
        ('SELECT 1 FROM "TRIPS_TRIP"', ()),
        # Names in string literals and comments are text, not tables.
        ("SELECT 'trips_trip'", ()),
        ("SELECT 'it''s trips_trip' FROM billing_invoice", (("billing_invoice", "billing"),)),
        ("SELECT 1 -- trips_trip", ()),
        ("SELECT /* trips_trip */ 1", ()),
    ],
)
def test_tables_are_found_quoted_or_not_and_only_fleet_module_tables_count(
    guard_mode: Callable[[str], None], sql: str, expected: tuple[tuple[str, str], ...]
) -> None:
    sql_guard._owners_build()
    assert sql_guard._tables_owned(sql) == expected


@pytest.mark.django_db
def test_the_tables_of_a_queryset_as_django_writes_them_are_found(
    guard_mode: Callable[[str], None],
) -> None:
    sql_guard._owners_build()
    queryset = apps.get_model("trips", "TripPosition").objects.select_related("trip")
    found = sql_guard._tables_owned(str(queryset.query))
    assert found == (("trips_trip", "trips"), ("trips_tripposition", "trips"))


@pytest.mark.django_db
def test_every_table_of_every_module_has_its_owner(guard_mode: Callable[[str], None]) -> None:
    owners = sql_guard._owners_build()
    for label in ("vehicles", "users", "trips", "billing"):
        owned = apps.get_app_config(label).get_models(include_auto_created=True)
        assert {model._meta.db_table for model in owned} == {
            table for table, owner in owners.items() if owner == label
        }
    assert "accounts_user" not in owners


# raise mode


@pytest.mark.django_db
def test_a_module_querying_its_own_table_passes(billing_reader: ModuleType) -> None:
    assert billing_reader.invoices_count_orm() == 0


@pytest.mark.django_db
def test_a_module_may_join_its_table_to_platform_tables(
    billing_reader: ModuleType, staff: Any
) -> None:
    assert billing_reader.invoices_of_staff_count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reader", "line_text"),
    [
        ("trips_count_quoted", "cursor.execute(sql)"),
        ("trips_count_unquoted", "cursor.execute(sql)"),
        ("trips_count_upper", "cursor.execute(sql)"),
        ("trips_count_schema", "cursor.execute(sql)"),
        ("trips_count_orm", 'get_model("trips", "Trip")'),
    ],
)
def test_a_module_querying_another_modules_table_raises_naming_both_sides_and_the_fix(
    billing_reader: ModuleType, reader: str, line_text: str
) -> None:
    with pytest.raises(ForeignTableQuery) as raised:
        getattr(billing_reader, reader)()
    line = line_of(line_text)
    assert str(raised.value) == (
        f"{READERS_FILE}:{line} sql-foreign-table module billing runs SQL on table trips_trip, "
        f"which module trips owns ({FIX})"
    )
    (violation,) = raised.value.violations
    assert (violation.file, violation.line, violation.rule) == (
        READERS_FILE,
        line,
        "sql-foreign-table",
    )
    assert sql_guard_violations_take() == [violation]
    assert sql_guard_violations_take() == []


@pytest.mark.django_db
def test_a_swallowed_refusal_is_still_recorded(billing_reader: ModuleType) -> None:
    assert billing_reader.trips_count_swallowed() == -1

    (violation,) = sql_guard_violations_take()
    assert (violation.file, violation.line) == (READERS_FILE, line_of("cursor.execute(sql)"))
    assert "module billing runs SQL on table trips_trip" in violation.message


@pytest.mark.django_db
def test_warn_mode_records_nothing(
    billing_reader: ModuleType, guard_mode: Callable[[str], None]
) -> None:
    guard_mode("warn")
    assert billing_reader.trips_count_quoted() == 0
    assert sql_guard_violations_take() == []


@pytest.mark.django_db
def test_a_refused_statement_never_runs(guard_mode: Callable[[str], None]) -> None:
    rider = users_api.rider_register(
        username="ann", email="ann@example.com", password="a-long-pass-9471", display_name="Ann"
    )
    users_reader = reader_load("modules.users.sql_guard_reader")
    assert users_reader.riders_rename("Renamed by users") == 1

    with pytest.raises(ForeignTableQuery, match="module billing runs SQL on table users_rider"):
        reader_load("modules.billing.sql_guard_reader").riders_rename("Renamed by billing")
    assert len(sql_guard_violations_take()) == 1

    assert users_api.rider_get(rider_id=rider.id).display_name == "Renamed by users"


@pytest.mark.django_db
def test_a_module_is_not_the_error_a_rest_client_sees(billing_reader: ModuleType) -> None:
    """The guard reports a programming error; it must never look like a 4xx domain error."""
    from monolith.platform.errors import FleetError

    assert issubclass(ForeignTableQuery, RuntimeError)
    assert not issubclass(ForeignTableQuery, FleetError)


@pytest.mark.django_db
def test_the_innermost_module_frame_issues_the_statement(
    billing_reader: ModuleType, trips_reader: ModuleType
) -> None:
    # billing code calling trips code that reads trips' table: trips issued it.
    assert billing_reader.through(trips_reader.trips_count_orm) == 0
    # trips code calling billing code that reads trips' table: billing issued it.
    with pytest.raises(ForeignTableQuery, match="module billing runs SQL on table trips_trip"):
        trips_reader.through(billing_reader.trips_count_orm)
    assert len(sql_guard_violations_take()) == 1


@pytest.mark.django_db
def test_platform_frames_inside_module_code_do_not_count(billing_reader: ModuleType) -> None:
    def platform_reads_trips() -> int:
        return apps.get_model("trips", "Trip").objects.count()

    with pytest.raises(ForeignTableQuery) as raised:
        billing_reader.through(platform_reads_trips)
    (violation,) = raised.value.violations
    assert (violation.file, violation.line) == (READERS_FILE, line_of("return call()"))
    assert sql_guard_violations_take() == [violation]


@pytest.mark.django_db
def test_platform_code_querying_any_table_is_not_judged(guard_mode: Callable[[str], None]) -> None:
    assert sql_guard_installed(connection)
    for label in ("vehicles", "users", "trips", "billing"):
        for model in apps.get_app_config(label).get_models():
            model._default_manager.count()
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "trips_trip" JOIN "billing_invoice" ON true')


@pytest.mark.django_db
def test_the_admin_browses_every_module_table_unjudged(
    guard_mode: Callable[[str], None], make_user: Callable[..., Any]
) -> None:
    client = Client()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    fleet_models = [
        model
        for model in admin.site._registry
        if model._meta.app_label in {"vehicles", "users", "trips", "billing"}
    ]
    assert len(fleet_models) >= 10
    for model in fleet_models:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_a_request_is_a_boundary_the_caller_of_the_request_does_not_issue_its_sql(
    billing_reader: ModuleType, make_user: Callable[..., Any]
) -> None:
    client = Client()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    response = billing_reader.through(lambda: client.get(reverse("admin:trips_trip_changelist")))
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_connections_of_other_threads_are_guarded_too(billing_reader: ModuleType) -> None:
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(billing_reader.trips_count_quoted())
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(timeout=30)
    (result,) = outcome
    assert isinstance(result, ForeignTableQuery)
    # Recorded from the other thread too: the test that started it is the one that fails.
    assert sql_guard_violations_take() == list(result.violations)


# warn mode


@pytest.mark.django_db
def test_warn_runs_the_statement_logs_once_per_place_and_counts_every_time(
    billing_reader: ModuleType, guard_mode: Callable[[str], None], guard_log: Any
) -> None:
    guard_mode("warn")
    before = violations_counted("billing", "trips")

    assert billing_reader.trips_count_orm() == 0
    assert billing_reader.trips_count_orm() == 0
    assert billing_reader.trips_count_quoted() == 0

    assert violations_counted("billing", "trips") == before + 3
    records = guard_records(guard_log)
    assert [record.levelname for record in records] == ["WARNING", "WARNING"]
    first, second = records
    line = line_of('get_model("trips", "Trip")')
    assert first.getMessage() == (
        f"{READERS_FILE}:{line} sql-foreign-table module billing runs SQL on table trips_trip, "
        f"which module trips owns ({FIX})"
    )
    extras = {key: getattr(first, key) for key in ("rule", "fleet_module", "owner_module")}
    assert extras == {
        "rule": "sql-foreign-table",
        "fleet_module": "billing",
        "owner_module": "trips",
    }
    assert (first.table, first.location) == ("trips_trip", f"{READERS_FILE}:{line}")  # type: ignore[attr-defined]
    assert '"trips_trip"' in first.sql  # type: ignore[attr-defined]
    assert second.location == f"{READERS_FILE}:{line_of('cursor.execute(sql)')}"  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_warn_lets_a_module_use_its_own_tables_silently(
    billing_reader: ModuleType, guard_mode: Callable[[str], None], guard_log: Any
) -> None:
    guard_mode("warn")
    before = violations_counted("billing", "billing")
    assert billing_reader.invoices_count_orm() == 0
    assert guard_records(guard_log) == []
    assert violations_counted("billing", "billing") == before


# off mode


@pytest.mark.django_db
def test_off_installs_nothing_and_judges_nothing(
    billing_reader: ModuleType, guard_mode: Callable[[str], None], guard_log: Any
) -> None:
    before = violations_counted("billing", "trips")
    guard_mode("off")

    assert not sql_guard_installed(connection)
    assert sql_guard._on_connection_created not in [
        ref() for _, ref in connection_created.receivers
    ]
    fresh = connection.copy()
    try:
        fresh.ensure_connection()
        assert fresh.execute_wrappers == []
    finally:
        fresh.close()
    assert billing_reader.trips_count_quoted() == 0
    assert guard_records(guard_log) == []
    assert violations_counted("billing", "trips") == before

    guard_mode("raise")
    assert sql_guard_installed(connection)
    with pytest.raises(ForeignTableQuery):
        billing_reader.trips_count_quoted()
    assert len(sql_guard_violations_take()) == 1


# installation


@pytest.mark.django_db
def test_every_new_connection_gets_the_guard_once_and_first(
    guard_mode: Callable[[str], None],
) -> None:
    seen: list[str] = []

    def other_wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        seen.append(sql)
        return execute(sql, *args)

    fresh = connection.copy()
    try:
        # The connection opens inside the block: the block must still pop its own wrapper.
        with fresh.execute_wrapper(other_wrapper):
            fresh.ensure_connection()
            assert fresh.execute_wrappers == [sql_guard.sql_guard, other_wrapper]
            with fresh.cursor() as cursor:
                cursor.execute("SELECT 1")
        assert fresh.execute_wrappers == [sql_guard.sql_guard]
        assert seen == ["SELECT 1"]
        fresh.close()
        fresh.ensure_connection()
        assert fresh.execute_wrappers == [sql_guard.sql_guard]
    finally:
        fresh.close()


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown mode 'loud'"):
        sql_guard_install(mode="loud")
    with (
        pytest.raises(ImproperlyConfigured, match="BOUNDARIES_SQL_GUARD must be one of"),
        override_settings(BOUNDARIES_SQL_GUARD="loud"),
    ):
        pass  # the override itself raises
    assert sql_guard._Guard.mode in {"raise", "warn"}


@pytest.mark.django_db
def test_the_test_suite_runs_with_the_guard_raising() -> None:
    """So every test of the real modules proves they keep to their own tables."""
    from django.conf import settings

    assert getattr(settings, "BOUNDARIES_SQL_GUARD", None) == "raise"
    assert sql_guard._Guard.mode == "raise"
    assert sql_guard_installed(connection)
