"""The ORM side of module boundaries: what a module reaches without importing anything.

An import check sees ``from modules.trips.models import Trip``; it does not see a
``ForeignKey("trips.Trip")``, a migration that depends on trips' migrations or updates its table,
``apps.get_model("trips", "Trip")`` or a ``post_save`` receiver for trips' model. These rules do.
Each reads only the declarations in ``monolith.platform.registry``: a fleet module's models,
migrations and code may refer to its own models and to the platform's (accounts, auth,
contenttypes, waffle...), never to another fleet module's.

``orm_violations()`` lists every violation; ``orm_check_messages()`` is the Django system check,
judged against the baseline so that only what the baseline does not allow fails.
"""

import ast
import functools
import inspect
import pkgutil
import re
import sys
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import sqlparse
from django.apps import AppConfig, apps
from django.core import checks
from django.db import models
from django.db.migrations import Migration
from django.db.migrations import operations as migration_ops
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.models import signals as model_signals
from django.db.models.fields.related import RelatedField
from django.db.models.query_utils import Q
from sqlparse import tokens as sql_tokens

from monolith.platform.boundaries.baseline import (
    BaselineVerdict,
    baseline_compare,
    baseline_load,
    baseline_path,
)
from monolith.platform.boundaries.violations import Violation, project_relative
from monolith.platform.registry import FleetModuleConfig, fleet_modules

RULE_IDS = {
    "fk-cross-module": "boundaries.E004",
    "generic-fk-cross-module": "boundaries.E005",
    "migration-cross-dependency": "boundaries.E006",
    "migration-foreign-table": "boundaries.E007",
    "get-model-cross-module": "boundaries.E008",
    "signal-cross-module": "boundaries.E009",
}
ORM_RULES = frozenset(RULE_IDS)
# A baseline entry for an ORM rule that allows more than is left. Only a warning here, so that
# fixing a violation does not block makemigrations, migrate or runserver until the baseline is
# regenerated; ``manage.py modules check`` (CI) applies the baseline itself and fails on it.
BASELINE_STALE_ID = "boundaries.W020"
# The baseline file cannot be read: one error instead of a traceback from every command.
BASELINE_UNREADABLE_ID = "boundaries.E021"

MODEL_SIGNALS = {
    "pre_init": model_signals.pre_init,
    "post_init": model_signals.post_init,
    "pre_save": model_signals.pre_save,
    "post_save": model_signals.post_save,
    "pre_delete": model_signals.pre_delete,
    "post_delete": model_signals.post_delete,
    "m2m_changed": model_signals.m2m_changed,
}
GET_MODEL_NAMES = frozenset({"get_model", "get_registered_model"})


@dataclass(frozen=True)
class OrmFinding:
    """A violation and the object Django's check output should name (a model, field...)."""

    violation: Violation
    obj: Any = None


def orm_violations() -> list[Violation]:
    """Every ORM boundary violation in the installed fleet modules, baseline not applied."""
    return sorted(finding.violation for finding in orm_findings())


def orm_findings(app_configs: Sequence[AppConfig] | None = None) -> list[OrmFinding]:
    """Every ORM rule over the fleet modules in ``app_configs`` (all of them by default)."""
    scan = _Scan(app_configs)
    findings = [
        *scan.relation_findings(),
        *scan.generic_findings(),
    ]
    migration_findings, run_python_sites = scan.migration_findings()
    findings.extend(migration_findings)
    findings.extend(scan.get_model_findings(skip=run_python_sites))
    findings.extend(scan.signal_findings())
    # One line per place: a function connected twice (plainly and through functools.partial)
    # is one violation to fix.
    unique: dict[tuple[str, int, str, str], OrmFinding] = {}
    for finding in findings:
        violation = finding.violation
        unique.setdefault(
            (violation.file, violation.line, violation.rule, violation.message), finding
        )
    return sorted(unique.values(), key=lambda finding: finding.violation)


def orm_check_messages(
    app_configs: Sequence[AppConfig] | None = None,
    allowed: Counter[tuple[str, str]] | None = None,
) -> list[checks.CheckMessage]:
    """The system check: violations beyond the baseline, and stale ORM baseline entries.

    Only the baseline's entries for ORM rules are judged here; the import check judges its own,
    so neither reports the other's entries as stale.
    """
    if allowed is None:
        try:
            allowed = baseline_load()
        except (ValueError, KeyError, TypeError) as error:
            # ValueError covers the baseline's own BaselineUnreadable and broken JSON alike.
            return [_baseline_unreadable(error)]
    findings = orm_findings(app_configs)
    orm_allowed = Counter({key: count for key, count in allowed.items() if key[1] in ORM_RULES})
    verdict = baseline_compare([finding.violation for finding in findings], orm_allowed)
    objects = {finding.violation: finding.obj for finding in findings}
    messages: list[checks.CheckMessage] = [
        checks.Error(
            f"{violation.file}:{violation.line} {violation.rule} {violation.message}",
            hint=violation.fix,
            obj=objects.get(violation),
            id=RULE_IDS[violation.rule],
        )
        for violation in sorted(verdict.new)
    ]
    judged = _judged_modules(app_configs)
    prefixes = tuple(project_relative(config.path) + "/" for config in judged)
    for stale in sorted(verdict.stale):
        if app_configs is not None and not stale[0].startswith(prefixes):
            continue
        messages.append(
            checks.Warning(
                BaselineVerdict(stale=[stale]).lines()[0],
                hint="Regenerate the baseline once the code is fixed: python manage.py modules "
                "baseline.",
                id=BASELINE_STALE_ID,
            )
        )
    return messages


def _baseline_unreadable(error: Exception) -> checks.CheckMessage:
    reason = " ".join(str(error).split()) or type(error).__name__
    return checks.Error(
        f"{project_relative(baseline_path())} is not a readable boundaries baseline: {reason}",
        hint="regenerate it: python manage.py modules baseline",
        id=BASELINE_UNREADABLE_ID,
    )


def _judged_modules(app_configs: Sequence[AppConfig] | None) -> list[FleetModuleConfig]:
    modules = fleet_modules()
    if app_configs is None:
        return modules
    wanted = {config.label for config in app_configs}
    return [config for config in modules if config.label in wanted]


def _label_of(model: Any) -> str:
    return str(getattr(getattr(model, "_meta", None), "label", model))


def _fleet_owner(model: Any) -> FleetModuleConfig | None:
    config = getattr(getattr(model, "_meta", None), "app_config", None)
    return config if isinstance(config, FleetModuleConfig) else None


def _api_of(config: FleetModuleConfig) -> str:
    return f"{config.name}.api"


class _Scan:
    """One run of the rules, with parsed source files cached for its duration."""

    def __init__(self, app_configs: Sequence[AppConfig] | None) -> None:
        self.modules = {config.label: config for config in fleet_modules()}
        self.judged = _judged_modules(app_configs)
        self._trees: dict[str, ast.Module | None] = {}
        self._tables: dict[str, FleetModuleConfig] | None = None
        self._connects: dict[str, dict[tuple[str, str], list[tuple[str, int]]]] = {}

    # Sources --------------------------------------------------------------------------------

    def tree(self, path: str) -> ast.Module | None:
        if path not in self._trees:
            try:
                self._trees[path] = ast.parse(Path(path).read_text(), filename=path)
            except (OSError, SyntaxError, ValueError):
                self._trees[path] = None
        return self._trees[path]

    def class_node(self, klass: type) -> tuple[str, ast.ClassDef | None]:
        try:
            path = inspect.getsourcefile(klass) or ""
        except TypeError:
            return "", None
        tree = self.tree(path) if path else None
        if tree is None:
            return path, None
        candidates = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        candidates += [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
        for node in candidates:
            if node.name == klass.__name__:
                return path, node
        return path, None

    def class_location(self, klass: type) -> tuple[str, int]:
        path, node = self.class_node(klass)
        return project_relative(path) if path else klass.__module__, node.lineno if node else 1

    def field_location(self, model: type[models.Model], name: str) -> tuple[str, int, type]:
        """Where ``name`` is assigned: the model's class body or the parent it inherits it from."""
        for klass in model.__mro__:
            if klass is models.Model or not issubclass(klass, models.Model):
                continue
            path, node = self.class_node(klass)
            if node is None:
                continue
            for statement in node.body:
                targets: list[ast.expr] = []
                if isinstance(statement, ast.Assign):
                    targets = statement.targets
                elif isinstance(statement, ast.AnnAssign):
                    targets = [statement.target]
                if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                    return project_relative(path), statement.lineno, klass
        file, line = self.class_location(model)
        return file, line, model

    def string_line(self, path: str, near: ast.AST | None, needle: str, exact: bool) -> int:
        """The line of the first string constant holding ``needle``: near a node, else anywhere.

        ``exact`` compares the whole constant (case-insensitively, for model references);
        otherwise ``needle`` is an identifier inside a longer text (SQL).
        """
        pattern = re.compile(rf"(?<![\w$]){re.escape(needle)}(?![\w$])", re.IGNORECASE)
        tree = self.tree(path)
        # A statement kept in a module-level constant (``RunSQL(FORWARD)``) is found there
        # before the rest of the file (whose docstring may mention the same table).
        names = (
            {node.id for node in ast.walk(near) if isinstance(node, ast.Name)} if near else set()
        )
        constants = [
            statement.value
            for statement in (tree.body if tree else [])
            if isinstance(statement, ast.Assign)
            and any(
                isinstance(target, ast.Name) and target.id in names for target in statement.targets
            )
        ]
        for scope in (near, *constants, tree):
            if scope is None:
                continue
            # The first occurrence in reading order, not in the order ast.walk visits nodes.
            lines = []
            for node in ast.walk(scope):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                if exact and node.value.lower() == needle.lower():
                    lines.append(node.lineno)
                match = None if exact else pattern.search(node.value)
                if match:
                    lines.append(node.lineno + node.value[: match.start()].count("\n"))
            if lines:
                return min(lines)
        return getattr(near, "lineno", 1)

    def foreign(self, own: FleetModuleConfig, target: Any) -> FleetModuleConfig | None:
        """The other fleet module ``target`` (a model) belongs to, or None when it may be used."""
        owner = _fleet_owner(target)
        return owner if owner is not None and owner.label != own.label else None

    def foreign_label(self, own: FleetModuleConfig, label: str) -> FleetModuleConfig | None:
        other = self.modules.get(label)
        return other if other is not None and other.label != own.label else None

    @property
    def tables(self) -> dict[str, FleetModuleConfig]:
        """Every fleet module's tables, by name."""
        if self._tables is None:
            self._tables = {
                table: config for config in self.modules.values() for table in config.owned_tables()
            }
        return self._tables

    # fk-cross-module ------------------------------------------------------------------------

    def relation_findings(self) -> Iterator[OrmFinding]:
        for config in self.judged:
            through_of: dict[type, str] = {}
            for model in config.get_models():
                for field in model._meta.local_many_to_many:
                    through = getattr(field.remote_field, "through", None)
                    if isinstance(through, type):
                        through_of[through] = f"{model._meta.label}.{field.name}"
            for model in config.get_models():
                yield from self._model_relation_findings(config, model, through_of)

    def _model_relation_findings(
        self, config: FleetModuleConfig, model: type[models.Model], through_of: dict[type, str]
    ) -> Iterator[OrmFinding]:
        label = model._meta.label
        if model._meta.proxy:
            other = self.foreign(config, model._meta.concrete_model)
            if other is not None:
                concrete = model._meta.concrete_model
                file, line = self.class_location(model)
                yield self._fk(
                    file,
                    line,
                    f"{label} is a proxy of {_label_of(concrete)}, a model of module {other.label}",
                    other,
                    model,
                )
            return
        relations: list[Any] = [*model._meta.local_fields, *model._meta.local_many_to_many]
        for field in relations:
            if not isinstance(field, RelatedField) or _is_generic_relation(field):
                continue
            target = field.related_model
            other = self.foreign(config, target)
            through = getattr(field.remote_field, "through", None)
            through_owner = (
                self.foreign(config, through)
                if isinstance(field, models.ManyToManyField) and isinstance(through, type)
                else None
            )
            if other is None and through_owner is None:
                continue
            file, line, defined_in = self.field_location(model, field.name)
            inherited = (
                f" (inherited from {defined_in.__module__}.{defined_in.__qualname__})"
                if defined_in is not model
                else ""
            )
            used_as = f" (through model of {through_of[model]})" if model in through_of else ""
            if other is not None and getattr(field.remote_field, "parent_link", False):
                message = (
                    f"{label} inherits from {_label_of(target)}, a model of module "
                    f"{other.label} (multi-table inheritance: {field.name} is a one-to-one "
                    "link to its table)"
                )
            elif other is not None:
                message = (
                    f"{label}.{field.name}{used_as} is a {type(field).__name__} to "
                    f"{_label_of(target)}, a model of module {other.label}{inherited}"
                )
            elif through_owner is not None:
                other = through_owner
                message = (
                    f"{label}.{field.name} goes through {_label_of(through)}, a model of "
                    f"module {other.label}{inherited}"
                )
            else:
                continue
            yield self._fk(file, line, message, other, field)

    def _fk(
        self, file: str, line: int, message: str, other: FleetModuleConfig, obj: Any
    ) -> OrmFinding:
        return OrmFinding(
            Violation(
                file,
                line,
                "fk-cross-module",
                message,
                f"store {other.label}'s id in a UUIDField and ask through {_api_of(other)}",
            ),
            obj,
        )

    # generic-fk-cross-module ----------------------------------------------------------------

    def generic_findings(self) -> Iterator[OrmFinding]:
        if not apps.is_installed("django.contrib.contenttypes"):
            return
        from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
        from django.contrib.contenttypes.models import ContentType

        for config in self.judged:
            for model in config.get_models():
                generic_keys: dict[str, list[str]] = {}
                for private in model._meta.private_fields:
                    if isinstance(private, GenericForeignKey):
                        generic_keys.setdefault(private.ct_field, []).append(private.name)
                    elif isinstance(private, GenericRelation):
                        other = self.foreign(config, private.related_model)
                        if other is not None:
                            file, line, _ = self.field_location(model, private.name)
                            yield self._generic(
                                file,
                                line,
                                f"{model._meta.label}.{private.name} is a GenericRelation to "
                                f"{_label_of(private.related_model)}, a model of module "
                                f"{other.label}",
                                other,
                                private,
                            )
                for field in model._meta.local_fields:
                    if not (
                        isinstance(field, models.ForeignKey) and field.related_model is ContentType
                    ):
                        continue
                    limit = field.get_limit_choices_to()
                    for other, names in self._content_type_targets(config, limit):
                        file, line, _ = self.field_location(model, field.name)
                        keys = generic_keys.get(field.name)
                        via = f" (the content type of {', '.join(keys)})" if keys else ""
                        yield self._generic(
                            file,
                            line,
                            f"{model._meta.label}.{field.name}{via} is limited to "
                            f"{', '.join(f'{other.label}.{name}' for name in names)}, "
                            f"a model of module {other.label}",
                            other,
                            field,
                        )

    def _content_type_targets(
        self, config: FleetModuleConfig, limit: Any
    ) -> Iterator[tuple[FleetModuleConfig, list[str]]]:
        """The other modules (and their model names) a content-type limit names."""
        labels: set[str] = set()
        names: set[str] = set()
        for key, value in _lookups(limit):
            parts = [part for part in str(key).split("__") if part not in {"in", "exact", "iexact"}]
            values = {value} if isinstance(value, str) else set(_strings(value))
            if parts and parts[-1] == "app_label":
                labels |= values
            elif parts and parts[-1] == "model":
                names |= {name.lower() for name in values}
        if labels:
            for label in sorted(labels):
                other = self.foreign_label(config, label)
                if other is not None:
                    theirs = {model._meta.model_name for model in other.get_models()}
                    yield other, sorted(names & theirs) or ["*"]
            return
        own = {model._meta.model_name for model in config.get_models()}
        for other in self.modules.values():
            if other.label == config.label:
                continue
            theirs = {model._meta.model_name for model in other.get_models()}
            hits = sorted((names & theirs) - own)
            if hits:
                yield other, hits

    def _generic(
        self, file: str, line: int, message: str, other: FleetModuleConfig, obj: Any
    ) -> OrmFinding:
        return OrmFinding(
            Violation(
                file,
                line,
                "generic-fk-cross-module",
                message,
                f"store {other.label}'s id in a UUIDField and ask through {_api_of(other)}",
            ),
            obj,
        )

    # migration-cross-dependency and migration-foreign-table ---------------------------------

    def migration_findings(self) -> tuple[list[OrmFinding], set[tuple[str, int]]]:
        """Findings, plus the get_model call sites RunPython code was judged for."""
        findings: list[OrmFinding] = []
        run_python_sites: set[tuple[str, int]] = set()
        for config in self.judged:
            for migration, path in _migrations_of(config):
                findings.extend(self._dependency_findings(config, migration, path))
                findings.extend(self._operation_findings(config, migration, path, run_python_sites))
        return findings, run_python_sites

    def _migration_class(self, path: str) -> ast.ClassDef | None:
        tree = self.tree(path)
        if tree is None:
            return None
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == "Migration":
                return node
        return None

    def _class_attribute(self, klass: ast.ClassDef | None, name: str) -> ast.AST | None:
        for statement in klass.body if klass else []:
            if isinstance(statement, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == name for target in statement.targets
            ):
                return statement
        return None

    def _dependency_findings(
        self, config: FleetModuleConfig, migration: Migration, path: str
    ) -> Iterator[OrmFinding]:
        file = project_relative(path)
        klass = self._migration_class(path)
        for attribute, verb in (("dependencies", "depends on"), ("run_before", "runs before")):
            statement = self._class_attribute(klass, attribute)
            for dependency in getattr(migration, attribute, []):
                # settings.AUTH_USER_MODEL and other swappable models are the platform's.
                if hasattr(dependency, "setting"):
                    continue
                other = self.foreign_label(config, dependency[0])
                if other is None:
                    continue
                line = self.string_line(path, statement, dependency[0], exact=True)
                yield OrmFinding(
                    Violation(
                        file,
                        line,
                        "migration-cross-dependency",
                        f"migration {migration.app_label}.{migration.name} {verb} "
                        f"{dependency[0]}.{dependency[1]}, a migration of module {other.label}",
                        f"store {other.label}'s ids in UUIDFields so {config.label}'s migrations "
                        f"need none of {other.label}'s, then squash or rewrite this migration",
                    ),
                    migration,
                )

    def _operation_findings(
        self,
        config: FleetModuleConfig,
        migration: Migration,
        path: str,
        run_python_sites: set[tuple[str, int]],
    ) -> Iterator[OrmFinding]:
        file = project_relative(path)
        statement = self._class_attribute(self._migration_class(path), "operations")
        operations_node = statement.value if isinstance(statement, ast.Assign) else None
        name = f"{migration.app_label}.{migration.name}"

        def finding(line: int, message: str, fix: str) -> OrmFinding:
            return OrmFinding(
                Violation(
                    file, line, "migration-foreign-table", f"migration {name} {message}", fix
                ),
                migration,
            )

        for operation, node in _operations_with_nodes(migration.operations, operations_node):
            near = node or statement
            if isinstance(operation, migration_ops.RunSQL):
                for table, other in self._sql_foreign_tables(config, operation):
                    yield finding(
                        self.string_line(path, near, table, exact=False),
                        f"runs SQL on {table}, a table of module {other.label}",
                        f"ask through {_api_of(other)}, or move the statement into a "
                        f"{other.label} migration",
                    )
            if isinstance(operation, migration_ops.RunPython):
                for code in (operation.code, operation.reverse_code):
                    for site_file, line, label, model_name in self._run_python_calls(code):
                        loaded_from = self.foreign_label(config, label)
                        if loaded_from is None:
                            continue
                        run_python_sites.add((site_file, line))
                        yield OrmFinding(
                            Violation(
                                site_file,
                                line,
                                "migration-foreign-table",
                                f"migration {name} RunPython loads {label}.{model_name}, "
                                f"a model of module {loaded_from.label}",
                                f"read {loaded_from.label}'s data through {_api_of(loaded_from)}, "
                                f"or move the data change into a {loaded_from.label} migration",
                            ),
                            migration,
                        )
                    for site_file, line, table, owner in self._run_python_sql(config, code):
                        yield OrmFinding(
                            Violation(
                                site_file,
                                line,
                                "migration-foreign-table",
                                f"migration {name} RunPython runs SQL on {table}, a table of "
                                f"module {owner.label}",
                                f"ask through {_api_of(owner)}, or move the statement into a "
                                f"{owner.label} migration",
                            ),
                            migration,
                        )
            yield from self._model_operation_findings(config, operation, path, near, finding)

    def _model_operation_findings(
        self,
        config: FleetModuleConfig,
        operation: Operation,
        path: str,
        near: ast.AST | None,
        finding: Any,
    ) -> Iterator[OrmFinding]:
        # Operations on a model of another app (custom operations carrying their own app_label).
        op_label = getattr(operation, "app_label", None)
        other = self.foreign_label(config, op_label) if isinstance(op_label, str) else None
        if other is not None:
            target = getattr(operation, "model_name", None) or getattr(operation, "name", "?")
            yield finding(
                getattr(near, "lineno", 1),
                f"operates on {op_label}.{target}, a model of module {other.label}",
                f"move the operation into a {other.label} migration",
            )
        tables: list[str] = []
        if isinstance(operation, migration_ops.CreateModel):
            tables.append(str(operation.options.get("db_table") or ""))
        if isinstance(operation, migration_ops.AlterModelTable):
            tables.append(str(operation.table or ""))
        for table in tables:
            owner = self.tables.get(table)
            if owner is not None and owner.label != config.label:
                yield finding(
                    self.string_line(path, near, table, exact=True),
                    f"maps a model onto {table}, a table of module {owner.label}",
                    f"give the model a table of its own and ask through {_api_of(owner)}",
                )
        fields: list[tuple[str, Any]] = []
        if isinstance(operation, migration_ops.CreateModel):
            fields = [(f"{operation.name}.{field_name}", f) for field_name, f in operation.fields]
        elif isinstance(operation, migration_ops.AddField | migration_ops.AlterField):
            fields = [(f"{operation.model_name}.{operation.name}", operation.field)]
        seen: set[str] = set()
        for field_name, field in fields:
            remote = getattr(field, "remote_field", None)
            if remote is None:
                continue
            for reference in (remote.model, getattr(remote, "through", None)):
                label, model_name = _model_reference(reference)
                other = self.foreign_label(config, label) if label else None
                if other is None or f"{label}.{model_name}" in seen:
                    continue
                seen.add(f"{label}.{model_name}")
                table = _table_of(other, model_name)
                yield finding(
                    self.string_line(path, near, f"{label}.{model_name}", exact=True),
                    f"links {field_name} to {label}.{model_name} (table {table} of module "
                    f"{other.label}) with a {type(field).__name__}",
                    f"store {other.label}'s id in a UUIDField, then squash or rewrite this "
                    "migration",
                )

    def _sql_foreign_tables(
        self, config: FleetModuleConfig, operation: migration_ops.RunSQL
    ) -> Iterator[tuple[str, FleetModuleConfig]]:
        seen: set[str] = set()
        for text in (*_sql_texts(operation.sql), *_sql_texts(operation.reverse_sql)):
            for identifier in sql_identifiers(text):
                owner = self.tables.get(identifier)
                if owner is not None and owner.label != config.label and identifier not in seen:
                    seen.add(identifier)
                    yield identifier, owner

    def _run_python_node(self, code: Any) -> tuple[str, ast.AST] | None:
        """The file and source node of a RunPython function, when its source can be read."""
        if code is None or code is migration_ops.RunPython.noop:
            return None
        function = inspect.unwrap(code)
        func_code = getattr(function, "__code__", None)
        if func_code is None:
            return None
        path = func_code.co_filename
        tree = self.tree(path)
        if tree is None:
            return None
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            if first == func_code.co_firstlineno or node.lineno == func_code.co_firstlineno:
                return path, node
        return None

    def _run_python_calls(self, code: Any) -> Iterator[tuple[str, int, str, str]]:
        """``get_model`` calls in a RunPython function: file, line, app label, model name."""
        found = self._run_python_node(code)
        if found is None:
            return
        path, node = found
        for call in ast.walk(node):
            target = get_model_target(call)
            if target is not None:
                yield project_relative(path), getattr(call, "lineno", 1), *target

    def _run_python_sql(
        self, config: FleetModuleConfig, code: Any
    ) -> Iterator[tuple[str, int, str, FleetModuleConfig]]:
        """Foreign tables in SQL a RunPython function executes itself.

        ``schema_editor.execute("...")`` and ``cursor.execute("...")`` with a literal statement:
        file, line of the table's mention, table and its owner.
        """
        found = self._run_python_node(code)
        if found is None:
            return
        path, node = found
        for call in ast.walk(node):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in {"execute", "executemany"}
                and call.args
            ):
                continue
            statement = call.args[0]
            text = _constant(statement)
            if text is None:
                continue
            for table in sorted(sql_identifiers(text)):
                owner = self.tables.get(table)
                if owner is None or owner.label == config.label:
                    continue
                pattern = re.compile(rf"(?<![\w$]){re.escape(table)}(?![\w$])", re.IGNORECASE)
                match = pattern.search(text)
                offset = text[: match.start()].count("\n") if match else 0
                yield project_relative(path), statement.lineno + offset, table, owner

    # get-model-cross-module -----------------------------------------------------------------

    def get_model_findings(self, skip: set[tuple[str, int]]) -> Iterator[OrmFinding]:
        for config in self.judged:
            for path in sorted(Path(config.path).rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                try:
                    text = path.read_text()
                except OSError:
                    continue
                # Parsing is the cost; a file that never says get_model needs none.
                if not any(name in text for name in GET_MODEL_NAMES):
                    continue
                tree = self.tree(str(path))
                if tree is None:
                    continue
                file = project_relative(path)
                for node in ast.walk(tree):
                    target = get_model_target(node)
                    if target is None or (file, getattr(node, "lineno", 0)) in skip:
                        continue
                    label, model_name = target
                    other = self.foreign_label(config, label)
                    if other is None:
                        continue
                    yield OrmFinding(
                        Violation(
                            file,
                            getattr(node, "lineno", 1),
                            "get-model-cross-module",
                            f"{config.label} loads {label}.{model_name} with get_model(), "
                            f"a model of module {other.label}",
                            f"ask through {_api_of(other)} instead of reading its model",
                        )
                    )

    # signal-cross-module --------------------------------------------------------------------

    def signal_findings(self) -> Iterator[OrmFinding]:
        judged = {config.label for config in self.judged}
        models_by_id = {id(model): model for model in apps.get_models(include_auto_created=True)}
        for signal_name, signal in MODEL_SIGNALS.items():
            for lookup_key, reference, _is_async in list(signal.receivers):
                sender = models_by_id.get(lookup_key[1])
                receiver = reference() if isinstance(reference, weakref.ref) else reference
                if sender is None or receiver is None:
                    continue
                where = _callable_source(receiver)
                if where is None:
                    continue
                path, line, python_module, qualname = where
                own = _module_owner(self.modules.values(), python_module)
                if own is None or own.label not in judged:
                    continue
                other = self.foreign(own, sender)
                if other is None:
                    continue
                # Connected by a ``.connect()`` call: that call is what to change, not the def.
                function_name = qualname.rpartition(".")[2]
                sites = self.connect_sites(own).get((signal_name, function_name))
                for site_path, site_line in sites or [(path, line)]:
                    yield OrmFinding(
                        Violation(
                            project_relative(site_path),
                            site_line,
                            "signal-cross-module",
                            f"{python_module}.{qualname} receives {signal_name} from "
                            f"{sender._meta.label}, a model of module {other.label}",
                            f"subscribe to an event {other.label} publishes "
                            f"({other.name}.events) instead of its model's signals",
                        )
                    )

    def connect_sites(
        self, config: FleetModuleConfig
    ) -> dict[tuple[str, str], list[tuple[str, int]]]:
        """``<signal>.connect(function)`` calls in a module's code, by (signal, function name).

        ``functools.partial(function, ...)`` counts as connecting ``function``.
        """
        cached = self._connects.get(config.label)
        if cached is not None:
            return cached
        sites: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for path in sorted(Path(config.path).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            try:
                if ".connect(" not in path.read_text():
                    continue
            except OSError:
                continue
            tree = self.tree(str(path))
            for node in ast.walk(tree) if tree else []:
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "connect"
                ):
                    continue
                signal_name = _name_of(node.func.value)
                receiver_node = node.args[0] if node.args else None
                for keyword in node.keywords:
                    if keyword.arg == "receiver":
                        receiver_node = keyword.value
                if (
                    isinstance(receiver_node, ast.Call)
                    and _name_of(receiver_node.func) == "partial"
                    and receiver_node.args
                ):
                    receiver_node = receiver_node.args[0]
                function_name = _name_of(receiver_node)
                if signal_name in MODEL_SIGNALS and function_name:
                    sites.setdefault((signal_name, function_name), []).append(
                        (str(path), node.lineno)
                    )
        self._connects[config.label] = sites
        return sites


def _is_generic_relation(field: Any) -> bool:
    # GenericRelation is a ForeignObject too; its own rule judges it. Compared by name so that
    # contenttypes need not be installed.
    return any(klass.__name__ == "GenericRelation" for klass in type(field).__mro__)


def _lookups(limit: Any) -> Iterator[tuple[str, Any]]:
    """(lookup, value) pairs of a ``limit_choices_to`` dict or Q; negated branches name nothing."""
    if isinstance(limit, Q):
        if limit.negated:
            return
        for child in limit.children:
            if isinstance(child, Q):
                yield from _lookups(child)
            elif isinstance(child, tuple) and len(child) == 2:
                yield str(child[0]), child[1]
    elif isinstance(limit, dict):
        for key, value in limit.items():
            yield str(key), value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        for item in value:
            if isinstance(item, str):
                yield item


def _module_owner(
    modules: Iterable[FleetModuleConfig], python_module: str
) -> FleetModuleConfig | None:
    for config in modules:
        if python_module == config.name or python_module.startswith(config.name + "."):
            return config
    return None


def _callable_source(receiver: Any) -> tuple[str, int, str, str] | None:
    """File, first line, Python module and qualified name of a signal receiver."""
    target = receiver
    while isinstance(target, functools.partial):
        target = target.func
    target = inspect.unwrap(getattr(target, "__func__", target))
    code = getattr(target, "__code__", None)
    if code is None:
        # A callable object: its class's __call__ is the code that runs.
        code = getattr(type(target).__call__, "__code__", None) if callable(target) else None
        if code is None:
            return None
        return (
            code.co_filename,
            code.co_firstlineno,
            type(target).__module__,
            type(target).__qualname__,
        )
    return (
        code.co_filename,
        code.co_firstlineno,
        getattr(target, "__module__", "") or "",
        getattr(target, "__qualname__", "?"),
    )


def get_model_target(node: ast.AST) -> tuple[str, str] | None:
    """The (app label, model name) an ``apps.get_model(...)`` call in source names, if any.

    Understands ``get_model("label", "Model")``, ``get_model("label.Model")``, keyword forms
    and ``apps.get_app_config("label").get_model("Model")``; ``self.get_model("Model")`` inside
    an AppConfig names no label and is its own module's business.
    """
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    if node.func.attr not in GET_MODEL_NAMES:
        return None
    args = [_constant(arg) for arg in node.args]
    keywords = {keyword.arg: _constant(keyword.value) for keyword in node.keywords}
    owner = node.func.value
    if (
        isinstance(owner, ast.Call)
        and isinstance(owner.func, ast.Attribute)
        and owner.func.attr == "get_app_config"
        and owner.args
        and _constant(owner.args[0])
    ):
        label = _constant(owner.args[0])
        model_name = (args[0] if args else None) or keywords.get("model_name")
        return (label, model_name or "?") if label else None
    first = (args[0] if args else None) or keywords.get("app_label")
    second = (args[1] if len(args) > 1 else None) or keywords.get("model_name")
    if first is None:
        return None
    if second is None:
        if "." not in first:
            return None
        label, _, second = first.partition(".")
        return label, second
    return first, second


def _name_of(node: ast.AST | None) -> str | None:
    """The last name of ``name`` or ``a.b.name``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _model_reference(reference: Any) -> tuple[str | None, str]:
    """(app label, lower-case model name) of a relation target as a migration states it."""
    if isinstance(reference, str) and "." in reference:
        label, _, model_name = reference.partition(".")
        return label, model_name.lower()
    meta = getattr(reference, "_meta", None)
    if meta is not None:
        return meta.app_label, meta.model_name
    return None, ""


def _table_of(config: FleetModuleConfig, model_name: str) -> str:
    try:
        return config.get_model(model_name)._meta.db_table
    except LookupError:
        return f"{config.label}_{model_name}"


def _migrations_of(config: FleetModuleConfig) -> Iterator[tuple[Migration, str]]:
    """The module's migrations as on disk, with their files (no database needed)."""
    module_name, _explicit = MigrationLoader.migrations_module(config.label)
    if module_name is None:
        return
    try:
        package = import_module(module_name)
    except ModuleNotFoundError:
        return
    if not hasattr(package, "__path__"):
        return
    for _, name, is_package in sorted(pkgutil.iter_modules(package.__path__)):
        if is_package or name[0] in "_~":
            continue
        migration_module = import_module(f"{module_name}.{name}")
        migration_class = getattr(migration_module, "Migration", None)
        path = getattr(sys.modules[migration_module.__name__], "__file__", None)
        if migration_class is None or path is None:
            continue
        yield migration_class(name, config.label), path


def _operations_with_nodes(
    operations: Sequence[Operation], node: ast.AST | None
) -> Iterator[tuple[Operation, ast.AST | None]]:
    """Operations (nested ones included) with their source nodes when the list is literal."""
    elements = node.elts if isinstance(node, ast.List | ast.Tuple) else []
    nodes: list[ast.AST | None] = (
        list(elements) if len(elements) == len(operations) else [None] * len(operations)
    )
    for operation, operation_node in zip(operations, nodes, strict=True):
        yield operation, operation_node
        nested: list[tuple[str, int]] = []
        if isinstance(operation, migration_ops.SeparateDatabaseAndState):
            nested = [("database_operations", 0), ("state_operations", 1)]
        elif isinstance(operation, migration_ops.RunSQL):
            nested = [("state_operations", 2)]
        for attribute, position in nested:
            yield from _operations_with_nodes(
                getattr(operation, attribute) or [],
                _argument(operation_node, attribute, position),
            )


def _argument(node: ast.AST | None, keyword: str, position: int) -> ast.AST | None:
    if not isinstance(node, ast.Call):
        return None
    for item in node.keywords:
        if item.arg == keyword:
            return item.value
    return node.args[position] if len(node.args) > position else None


def _sql_texts(sql: Any) -> list[str]:
    if isinstance(sql, str):
        return [sql]
    texts: list[str] = []
    for item in sql or []:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, list | tuple) and item and isinstance(item[0], str):
            texts.append(item[0])
    return texts


_DOLLAR_QUOTE = re.compile(r"^(\$[A-Za-z_0-9]*\$)(.*)\1$", re.DOTALL)


def sql_identifiers(sql: str) -> set[str]:
    """Identifiers (table names among them) a SQL text mentions, as PostgreSQL reads them.

    Unquoted names fold to lower case, quoted ones keep their case; string literals and comments
    name nothing; dollar-quoted bodies (plpgsql functions) are read as SQL too.
    """
    found: set[str] = set()
    for statement in sqlparse.parse(sql):
        for token in statement.flatten():
            if token.ttype in sql_tokens.Comment or token.ttype in sql_tokens.String.Single:
                continue
            if token.ttype in sql_tokens.String.Symbol:
                found.add(token.value.strip('"'))
            elif token.ttype in sql_tokens.Name or token.ttype in sql_tokens.Keyword:
                found.add(token.value.lower())
            elif token.ttype in sql_tokens.Literal:
                body = _DOLLAR_QUOTE.match(token.value)
                if body:
                    found |= sql_identifiers(body.group(2))
    return found
