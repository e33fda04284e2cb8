"""The runtime SQL guard: a fleet module's code may query only its own tables.

Every statement sent through a Django connection is attributed to the fleet module whose code
issued it: the innermost stack frame whose Python module belongs to a fleet module
(``registry.module_of_python_name``). Frames of Django, the platform and libraries do not count,
and a statement with no fleet module frame on the stack (the admin, auth, migrations, the
platform's own commands) is not judged. A statement that touches a table owned by another fleet
module breaks rule ``sql-foreign-table``; tables of the issuing module and platform tables (auth,
sessions, waffle...) are fine.

``settings.BOUNDARIES_SQL_GUARD`` says what happens then:

- ``"raise"`` (tests): ``ForeignTableQuery`` is raised before the statement runs, and the
  violation is recorded too (``sql_guard_violations_take()``), so a test that swallows the
  exception still fails (the root conftest checks the record after every test);
- ``"warn"`` (production, and the default): a WARNING on ``fleet.boundaries`` (once per
  process for each code location and table) and ``fleet_boundary_violations_total`` counted
  every time;
- ``"off"``: nothing is installed at all, so no statement pays anything.

It is installed on every connection through ``connection_created``: connections are opened per
thread and per alias, by requests, management commands, Celery tasks and tests alike, so this
covers every query the process makes (decision record 0005).
"""

import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from types import FrameType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from prometheus_client import Counter

from monolith.platform.boundaries.violations import Violation, project_relative
from monolith.platform.registry import fleet_modules, module_of_python_name

RULE = "sql-foreign-table"
MODES = ("raise", "warn", "off")
DEFAULT_MODE = "warn"
SETTING = "BOUNDARIES_SQL_GUARD"

VIOLATIONS = Counter(
    "fleet_boundary_violations_total",
    "Boundary violations seen at run time, by issuing module, owning module and rule.",
    ["module", "owner", "rule"],
)

log = logging.getLogger("fleet.boundaries")

# What names a table in SQL: a quoted identifier ("trips_trip", what Django emits, kept exact)
# or an unquoted one (raw SQL, which PostgreSQL folds to lower case). String literals and
# comments are matched only so that the names inside them are skipped.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/|"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)""",
    re.DOTALL,
)
_DISPATCH_UID = "fleet-sql-guard"
# Frames of these Python modules end the search for the issuer. A request is a boundary: the
# view, and the code it calls, issue its statements, not whoever sent the request (a test
# driving the admin with the test client, a module calling another over HTTP in-process).
# So is a commit: a callback it runs (transaction.on_commit) issues its own statements, not
# the module whose transaction committed (the platform's outbox relay hook, for one).
_REQUEST_HANDLERS = frozenset({"django.core.handlers.base", "django.db.backends.base.base"})
_STOP = "\x00stop"
_TABLES_CACHE_SIZE = 4096


class ForeignTableQuery(RuntimeError):
    """A fleet module's code ran SQL on a table another fleet module owns.

    A programming error, not a domain error: it is never mapped to a 4xx answer.
    """

    def __init__(self, violations: tuple[Violation, ...]) -> None:
        super().__init__("\n".join(str(violation) for violation in violations))
        self.violations = violations


class _Guard:
    """What the wrapper needs per statement, kept in one place so tests can reset it."""

    mode: str = DEFAULT_MODE
    # table name -> owning module label; built once the apps are ready.
    owners: dict[str, str] | None = None
    # SQL string -> the fleet module tables it names, with their owners.
    tables: dict[str, tuple[tuple[str, str], ...]] = {}
    # Python module name (a frame's ``__name__``) -> fleet module label, or None.
    labels: dict[str | None, str | None] = {}
    # (file:line, table) pairs already logged by this process.
    warned: set[tuple[str, str]] = set()


# Violations refused in raise mode since the last take, from every thread (list.extend is atomic).
_RECORDED: list[Violation] = []


def sql_guard_violations_take() -> list[Violation]:
    """The violations refused in raise mode since the last call, forgotten once taken.

    The root conftest fails any test that leaves some behind; a test that expects a refusal
    takes them itself (and can assert on them).
    """
    taken = _RECORDED[:]
    del _RECORDED[: len(taken)]
    return taken


def sql_guard_mode_setting() -> str:
    """The configured mode, checked: ``raise``, ``warn`` or ``off``."""
    mode = getattr(settings, SETTING, DEFAULT_MODE)
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"{SETTING} must be one of {', '.join(repr(m) for m in MODES)}, not {mode!r}."
        )
    return str(mode)


def sql_guard(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The execute wrapper: judge the statement, then run it (unless it was refused)."""
    if _Guard.mode != "off":
        owners = _Guard.owners
        if owners is None and apps.ready:
            owners = _owners_build()
        if owners is not None:
            touched = _tables_owned(sql if isinstance(sql, str) else str(sql))
            if touched:
                _statement_judge(touched, sql)
    return execute(sql, params, many, context)


def _owners_build() -> dict[str, str]:
    owners: dict[str, str] = {}
    for config in fleet_modules():
        for table in config.owned_tables():
            owners[table] = config.label
    _Guard.owners = owners
    _Guard.tables = {}
    return owners


def _tables_owned(sql: str) -> tuple[tuple[str, str], ...]:
    """The fleet module tables a statement names, with their owners (statements repeat)."""
    cache = _Guard.tables
    found = cache.get(sql)
    if found is None:
        owners = _Guard.owners or {}
        names = {name for name in _identifiers(sql) if name in owners}
        found = tuple((table, owners[table]) for table in sorted(names))
        # Statements with inlined values never repeat; a bound keeps them from piling up.
        if len(cache) >= _TABLES_CACHE_SIZE:
            cache.clear()
        cache[sql] = found
    return found


def _identifiers(sql: str) -> Iterator[str]:
    """Identifiers as PostgreSQL reads them: unquoted ones folded to lower case."""
    for quoted, bare in _TOKEN.findall(sql):
        if quoted:
            yield quoted.replace('""', '"')
        elif bare:
            yield bare.lower()


def _issuer(frame: FrameType | None) -> tuple[str, FrameType] | None:
    """The innermost frame of fleet module code on the stack, with its module's label."""
    labels = _Guard.labels
    while frame is not None:
        name = frame.f_globals.get("__name__")
        try:
            label = labels[name]
        except KeyError:
            label = labels[name] = _label_of(name)
        if label is not None:
            if label is _STOP:
                return None
            return label, frame
        frame = frame.f_back
    return None


def _label_of(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    if name in _REQUEST_HANDLERS:
        return _STOP
    config = module_of_python_name(name)
    return config.label if config is not None else None


def _statement_judge(touched: tuple[tuple[str, str], ...], sql: Any) -> None:
    # Frame 0 is this function, 1 the wrapper; both are platform code.
    found = _issuer(sys._getframe(2))
    if found is None:
        return
    label, frame = found
    foreign = [(table, owner) for table, owner in touched if owner != label]
    if not foreign:
        return
    file = _file_of(frame.f_code.co_filename)
    line = frame.f_lineno
    if _Guard.mode == "raise":
        violations = tuple(_violation(label, file, line, table, owner) for table, owner in foreign)
        # Kept as well as raised: code under test may catch the exception and carry on.
        _RECORDED.extend(violations)
        raise ForeignTableQuery(violations)
    for table, owner in foreign:
        VIOLATIONS.labels(label, owner, RULE).inc()
        location = f"{file}:{line}"
        if (location, table) in _Guard.warned:
            continue
        _Guard.warned.add((location, table))
        log.warning(
            "%s",
            _violation(label, file, line, table, owner),
            extra={
                "rule": RULE,
                "fleet_module": label,
                "owner_module": owner,
                "table": table,
                "location": location,
                "sql": str(sql)[:500],
            },
        )


def _violation(label: str, file: str, line: int, table: str, owner: str) -> Violation:
    return Violation(
        file=file,
        line=line,
        rule=RULE,
        message=f"module {label} runs SQL on table {table}, which module {owner} owns",
        fix=f"ask through {owner}.api or subscribe to {owner}.events instead of using its table",
    )


@lru_cache(maxsize=1024)
def _file_of(filename: str) -> str:
    return project_relative(filename)


def _connection_guard(connection: BaseDatabaseWrapper) -> None:
    # First in the list, so a ``with connection.execute_wrapper(...)`` block that opened this
    # connection still pops its own wrapper, not the guard, when it exits.
    if sql_guard not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, sql_guard)


def _on_connection_created(
    sender: type[BaseDatabaseWrapper], connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    _connection_guard(connection)


def _open_connections() -> Iterable[BaseDatabaseWrapper]:
    return connections.all(initialized_only=True)


def sql_guard_install(mode: str | None = None) -> None:
    """Guard every connection this process opens, unless the mode (default: the setting) is off.

    Called from the platform's ``AppConfig.ready()``. With ``off`` it removes the guard instead,
    so not even a function call is added to a statement.
    """
    mode = sql_guard_mode_setting() if mode is None else mode
    if mode not in MODES:
        raise ImproperlyConfigured(f"{SETTING}: unknown mode {mode!r}.")
    if mode == "off":
        sql_guard_uninstall()
        return
    _Guard.mode = mode
    connection_created.connect(_on_connection_created, dispatch_uid=_DISPATCH_UID)
    for connection in _open_connections():
        _connection_guard(connection)


def sql_guard_uninstall() -> None:
    """Stop guarding: no new connection gets the guard, and this thread's open ones lose it.

    Connections other threads hold keep the wrapper, but it lets everything through.
    """
    _Guard.mode = "off"
    connection_created.disconnect(dispatch_uid=_DISPATCH_UID)
    for connection in _open_connections():
        while sql_guard in connection.execute_wrappers:
            connection.execute_wrappers.remove(sql_guard)


def sql_guard_installed(connection: BaseDatabaseWrapper) -> bool:
    return sql_guard in connection.execute_wrappers


@receiver(setting_changed, dispatch_uid="fleet-sql-guard-setting")
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    # Only tests change settings at run time (override_settings); follow them.
    if setting == SETTING:
        sql_guard_install()
    elif setting == "INSTALLED_APPS":
        _Guard.owners = None
        _Guard.labels = {}
        _Guard.tables = {}
