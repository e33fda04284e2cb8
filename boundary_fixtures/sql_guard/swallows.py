"""Tests that catch the guard's refusal and carry on; run by a pytest of their own.

Not named ``test_*``: only ``test_boundaries_sql_guard_process`` runs them (in a subprocess),
to show the root conftest fails the first one at teardown although nothing was raised to pytest.
No database is needed: the guard judges the statement before any connection is used.
"""

import contextlib

from boundary_fixtures.sql_guard import reader_load
from monolith.platform.boundaries import sql_guard


def _refused_statement() -> None:
    sql_guard.sql_guard(lambda *args: None, 'SELECT 1 FROM "trips_trip"', None, False, {})


def _swallowed() -> None:
    with contextlib.suppress(sql_guard.ForeignTableQuery):
        reader_load("modules.billing.sql_guard_reader").through(_refused_statement)


def test_swallows_the_refusal() -> None:
    _swallowed()


def test_swallows_the_refusal_and_takes_the_record() -> None:
    _swallowed()
    if len(sql_guard.sql_guard_violations_take()) != 1:
        raise AssertionError("the swallowed refusal was not recorded")
