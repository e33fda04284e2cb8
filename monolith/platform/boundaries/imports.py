"""The import check: fleet modules import each other only through declared, public doors.

The import graph comes from grimp (the engine under import-linter; see
``docs/decisions/0004-import-graph-with-grimp.md``), built over the packages that hold the
installed fleet modules, so the list of what to scan is the registry, never a hand-kept list.
grimp reads every file statically: tests, migrations, imports inside functions and imports
guarded by ``TYPE_CHECKING`` all count, and each import keeps its line number. (grimp's own
``is_lazy`` marks PEP 810's ``lazy import`` statement, not an import inside a function; those
are told apart here, for the messages, in the few files that reach into another module.)

Four rules:

- ``import-private``: module A imports something of module B outside ``B.public_modules``, or
  imports a name from B's public module that is not public there: not in its ``__all__`` (or,
  for a public module without ``__all__``, a name starting with ``_``, a module or a Django
  model), as in ``from modules.trips.api import Trip, services``. Attribute access through a
  module object (``import modules.trips.api as t; t.services``) is not followed.
- ``import-undeclared``: A imports B's public surface but ``B`` is not in ``A.depends_on``.
- ``import-cycle``: the declared dependencies form a cycle (reported at the ``depends_on`` of
  the cycle's first module), or the actual imports do through at least one undeclared edge
  (reported at that import; a cycle made only of declared edges is already a declared cycle).
- ``depends-unknown``: A's ``depends_on`` names a label that is no installed fleet module (a
  typo), reported at that ``depends_on`` line.
"""

import ast
import importlib
import importlib.util
import inspect
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import grimp
from django.conf import settings
from django.db.models import Model

from monolith.platform.boundaries.violations import Violation, project_relative
from monolith.platform.registry import FleetModuleConfig, fleet_modules

PRIVATE = "import-private"
UNDECLARED = "import-undeclared"
CYCLE = "import-cycle"
UNKNOWN_DEPENDENCY = "depends-unknown"


class ImportGraphError(Exception):
    """The import graph could not be built (a file does not parse, a package is missing)."""


@dataclass(frozen=True, order=True)
class CrossImport:
    """One import statement in a fleet module that reaches into another fleet module."""

    file: str
    line: int
    importer: str  # dotted Python module that holds the import statement
    imported: str  # dotted Python module it imports
    source: str  # label of the importing fleet module
    target: str  # label of the imported fleet module
    in_function: bool  # inside a function body, so it runs only when the function is called
    public: bool  # the imported module is part of the target's public surface
    # Names taken from a public module that are not public there (``from b.api import Model``).
    private_names: tuple[str, ...] = ()


def cross_module_imports(modules: Sequence[FleetModuleConfig] | None = None) -> list[CrossImport]:
    """Every import from one fleet module into another, sorted by file and line."""
    modules = list(fleet_modules() if modules is None else modules)
    if not modules:
        return []
    roots = sorted({_root_package(config.name) for config in modules})
    try:
        # No cache: a cold build of this repository takes milliseconds, and a cache keyed on
        # file times would need a folder of its own and could go stale between quick edits.
        graph = grimp.build_graph(*roots, cache_dir=None)
    except grimp.exceptions.SourceSyntaxError as error:
        where = project_relative(error.filename)
        raise ImportGraphError(
            f"{where}:{error.lineno or 0} cannot be parsed: {error.text or 'syntax error'}"
        ) from error
    by_name = {config.name: config for config in modules}
    files = _module_files(roots)
    surfaces = _PublicNames(files, frozenset(graph.modules))
    found: list[CrossImport] = []
    for importer in sorted(graph.modules):
        source = _owner(importer, by_name)
        if source is None:
            continue
        reached = [
            (imported, target)
            for imported in sorted(graph.find_modules_directly_imported_by(importer))
            if (target := _owner(imported, by_name)) is not None and target is not source
        ]
        if not reached:
            continue
        path = files.get(importer) or importer.replace(".", "/") + ".py"
        details = [
            (imported, target, int(detail["line_number"]))
            for imported, target in reached
            for detail in graph.get_import_details(importer=importer, imported=imported)
        ]
        in_functions = _function_bodies(path, (line for _, _, line in details))
        for imported, target, line in details:
            public = _is_public(imported, target)
            private_names: tuple[str, ...] = ()
            if public:
                private_names = surfaces.private_names(path, importer, line, imported)
            found.append(
                CrossImport(
                    file=path,
                    line=line,
                    importer=importer,
                    imported=imported,
                    source=source.label,
                    target=target.label,
                    in_function=line in in_functions,
                    public=public,
                    private_names=private_names,
                )
            )
    return sorted(found)


def import_violations(
    modules: Sequence[FleetModuleConfig] | None = None,
    imports: Sequence[CrossImport] | None = None,
) -> list[Violation]:
    """Every import-private, import-undeclared, import-cycle and depends-unknown violation."""
    modules = list(fleet_modules() if modules is None else modules)
    if imports is None:
        imports = cross_module_imports(modules)
    configs = {config.label: config for config in modules}
    violations: list[Violation] = []
    for found in imports:
        violation = _import_violation(found, configs)
        if violation is not None:
            violations.append(violation)
    violations.extend(_unknown_dependencies(configs))
    violations.extend(_declared_cycles(configs))
    violations.extend(_import_cycles(configs, imports))
    return sorted(violations)


def _import_violation(
    found: CrossImport, configs: dict[str, FleetModuleConfig]
) -> Violation | None:
    source, target = configs[found.source], configs[found.target]
    declared = target.label in source.depends_on
    how = "imports, inside a function," if found.in_function else "imports"
    declare = (
        ""
        if declared
        else f", and declare {target.label!r} in {source.label}'s depends_on ({_apps_file(source)})"
    )
    if not found.public:
        return Violation(
            file=found.file,
            line=found.line,
            rule=PRIVATE,
            message=(
                f"{source.label} {how} {found.imported}, which is private to {target.label} "
                f"(public: {', '.join(target.public_surface)})"
            ),
            fix=(
                f"ask through {target.name}.api, store the id instead of the object, or "
                f"subscribe to an event from {target.name}.events{declare}"
            ),
        )
    if found.private_names:
        names = found.private_names
        return Violation(
            file=found.file,
            line=found.line,
            rule=PRIVATE,
            message=(
                f"{source.label} {how} {', '.join(names)} from {found.imported}, not "
                f"exported there (its __all__), so private to {target.label}"
            ),
            fix=(
                f"use what {found.imported} exports, or ask {target.label} to add what you "
                f"need to it; store the id instead of the object{declare}"
            ),
        )
    if not declared:
        return Violation(
            file=found.file,
            line=found.line,
            rule=UNDECLARED,
            message=(
                f"{source.label} {how} {found.imported}, but {target.label} is not in "
                f"{source.label}'s depends_on"
            ),
            fix=(
                f"add {target.label!r} to depends_on in {_apps_file(source)} if {source.label} "
                f"may depend on {target.label}; otherwise have {target.label} publish an event "
                f"that {source.label} subscribes to"
            ),
        )
    return None


def _unknown_dependencies(configs: dict[str, FleetModuleConfig]) -> list[Violation]:
    """A ``depends_on`` label that is no installed fleet module: a typo, or a missing app."""
    known = ", ".join(configs)
    violations = []
    for label, config in configs.items():
        for dependency in config.depends_on:
            if dependency in configs:
                continue
            violations.append(
                Violation(
                    file=_apps_file(config),
                    line=_depends_on_line(config),
                    rule=UNKNOWN_DEPENDENCY,
                    message=(
                        f"{label} declares depends_on {dependency!r}, which is not an installed "
                        f"fleet module (known: {known})"
                    ),
                    fix=(
                        f"correct {dependency!r} in {_apps_file(config)} to the label of a "
                        f"module {label} may depend on, or remove it"
                    ),
                )
            )
    return violations


def _declared_cycles(configs: dict[str, FleetModuleConfig]) -> list[Violation]:
    edges = {
        label: {dependency for dependency in config.depends_on if dependency in configs}
        for label, config in configs.items()
    }
    violations = []
    for component in _strongly_connected(edges):
        start = min(component)
        cycle = _cycle_through(start, edges, component)
        config = configs[start]
        violations.append(
            Violation(
                file=_apps_file(config),
                line=_depends_on_line(config),
                rule=CYCLE,
                message=f"the declared dependencies form a cycle: {' -> '.join(cycle)}",
                fix=(
                    f"remove {start!r} from {cycle[-2]}'s depends_on: instead of calling "
                    f"{start}, {cycle[-2]} publishes an event that {start} subscribes to"
                ),
            )
        )
    return violations


def _import_cycles(
    configs: dict[str, FleetModuleConfig], imports: Iterable[CrossImport]
) -> list[Violation]:
    first_import: dict[tuple[str, str], CrossImport] = {}
    for found in sorted(imports):
        first_import.setdefault((found.source, found.target), found)
    edges: dict[str, set[str]] = {label: set() for label in configs}
    for source, target in first_import:
        edges[source].add(target)
    violations = []
    for component in _strongly_connected(edges):
        undeclared = sorted(
            (source, target)
            for source, target in first_import
            if source in component
            and target in component
            and target not in configs[source].depends_on
        )
        if not undeclared:
            continue  # every edge is declared, so the declared cycle already reports it
        source, target = undeclared[0]
        back = _path_between(target, source, edges, component)
        cycle = [source, *back] if back else [source, target, source]
        found = first_import[(source, target)]
        violations.append(
            Violation(
                file=found.file,
                line=found.line,
                rule=CYCLE,
                message=(
                    f"{source} imports {found.imported}, closing an import cycle "
                    f"{' -> '.join(cycle)}"
                ),
                fix=(
                    f"remove this import: instead of calling {target}, {source} publishes an "
                    f"event from {configs[source].name}.events that {target} subscribes to"
                ),
            )
        )
    return violations


def _strongly_connected(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's components with more than one module, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(frozenset(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components, key=min)


def _path_between(
    start: str, goal: str, edges: dict[str, set[str]], within: frozenset[str]
) -> list[str]:
    """The shortest path ``start .. goal`` inside ``within`` (both ends included), or []."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            step: str | None = node
            while step is not None:
                path.append(step)
                step = previous[step]
            return path[::-1]
        for successor in sorted(edges.get(node, ())):
            if successor in within and successor not in previous:
                previous[successor] = node
                queue.append(successor)
    return []


def _cycle_through(start: str, edges: dict[str, set[str]], within: frozenset[str]) -> list[str]:
    """The shortest cycle from ``start`` back to itself, as ``[start, ..., start]``."""
    best: list[str] = []
    for successor in sorted(edges[start] & within):
        path = _path_between(successor, start, edges, within)
        if path and (not best or len(path) + 1 < len(best)):
            best = [start, *path]
    return best


def _owner(dotted: str, by_name: dict[str, FleetModuleConfig]) -> FleetModuleConfig | None:
    """The fleet module ``dotted`` belongs to: the longest module name that prefixes it."""
    while dotted:
        if dotted in by_name:
            return by_name[dotted]
        dotted = dotted.rpartition(".")[0]
    return None


def _is_public(dotted: str, target: FleetModuleConfig) -> bool:
    """Public: the package itself, a public submodule, or anything inside a public subpackage."""
    if dotted in target.public_modules:
        return True
    return any(
        dotted.startswith(public + ".") for public in target.public_modules if public != target.name
    )


class _PublicNames:
    """Which names an import statement takes from a public module that are not public there.

    A public module's public names are its ``__all__``, read from the source when it is a
    literal (every real ``api.py``), else from the imported module. Without ``__all__``, every
    name not starting with ``_`` that is neither a module nor a Django model defined elsewhere
    is public; a module that cannot be imported (its app is not installed) is judged by the
    names its source defines.
    """

    def __init__(self, files: dict[str, str], graph_modules: frozenset[str]) -> None:
        self.files = files
        self.graph_modules = graph_modules
        self.trees: dict[str, ast.Module | None] = {}
        self.public: dict[str, frozenset[str] | None] = {}

    def _tree(self, relative: str) -> ast.Module | None:
        if relative not in self.trees:
            path = (
                relative if os.path.isabs(relative) else os.path.join(settings.BASE_DIR, relative)
            )
            try:
                self.trees[relative] = ast.parse(Path(path).read_bytes(), filename=path)
            except (OSError, SyntaxError):
                self.trees[relative] = None
        return self.trees[relative]

    def private_names(self, file: str, importer: str, line: int, imported: str) -> tuple[str, ...]:
        tree = self._tree(file)
        if tree is None:
            return ()
        names: list[str] = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.lineno != line:
                continue
            if _import_from_module(node, importer, file) != imported:
                continue  # ``from b import api`` imports the module b.api, judged as a module
            for alias in node.names:
                if alias.name == "*" or f"{imported}.{alias.name}" in self.graph_modules:
                    continue  # a star takes the public names only; a submodule is judged apart
                if alias.name not in self._public(imported) and alias.name not in names:
                    names.append(alias.name)
        return tuple(names)

    def _public(self, dotted: str) -> frozenset[str]:
        if dotted not in self.public:
            self.public[dotted] = self._declared_all(dotted)
        found = self.public[dotted]
        if found is None:
            found = self.public[dotted] = self._imported_public(dotted)
        return found

    def _declared_all(self, dotted: str) -> frozenset[str] | None:
        """``__all__`` when the source spells it as literals, without importing the module."""
        relative = self.files.get(dotted)
        tree = self._tree(relative) if relative else None
        if tree is None:
            return None
        names: set[str] = set()
        found = False
        for statement in tree.body:
            targets: list[ast.expr]
            value: ast.expr | None
            if isinstance(statement, ast.Assign):
                targets, value, replaces = statement.targets, statement.value, True
            elif isinstance(statement, ast.AnnAssign):
                targets, value, replaces = [statement.target], statement.value, True
            elif isinstance(statement, ast.AugAssign):
                targets, value, replaces = [statement.target], statement.value, False
            elif (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Call)
                and isinstance(statement.value.func, ast.Attribute)
                and isinstance(statement.value.func.value, ast.Name)
                and statement.value.func.value.id == "__all__"
            ):
                return None  # __all__.extend(...) and the like: ask the imported module
            else:
                continue
            if value is None or not any(
                isinstance(target, ast.Name) and target.id == "__all__" for target in targets
            ):
                continue
            try:
                literal = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                return None  # built at run time: ask the imported module
            if not isinstance(literal, list | tuple) or not all(
                isinstance(name, str) for name in literal
            ):
                return None
            if replaces:
                names, found = set(), True
            names.update(literal)
        return frozenset(names) if found else None

    def _imported_public(self, dotted: str) -> frozenset[str]:
        try:
            module = importlib.import_module(dotted)
        except Exception:
            # Its app is not installed (a model module outside INSTALLED_APPS), or it fails to
            # import for reasons of its own: judge by what its source defines instead.
            return self._defined_public(dotted)
        declared = getattr(module, "__all__", None)
        if declared is not None:
            return frozenset(declared)
        return frozenset(
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and not isinstance(value, ModuleType)
            # A model is public where it is defined (a module that makes its models public),
            # never where it merely passes through (an events.py importing it).
            and not (
                isinstance(value, type)
                and issubclass(value, Model)
                and value.__module__ != module.__name__
            )
        )

    def _defined_public(self, dotted: str) -> frozenset[str]:
        """The names a module's source defines at top level (not those it imports)."""
        relative = self.files.get(dotted)
        tree = self._tree(relative) if relative else None
        if tree is None:
            return frozenset()
        names: set[str] = set()
        for statement in tree.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(statement.name)
            elif isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                for target in targets:
                    names.update(node.id for node in ast.walk(target) if isinstance(node, ast.Name))
        return frozenset(name for name in names if not name.startswith("_"))


def _import_from_module(node: ast.ImportFrom, importer: str, file: str) -> str:
    """The absolute module a ``from ... import`` statement reads, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = importer if file.endswith("__init__.py") else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


@cache
def _root_package(dotted: str) -> str:
    """The package grimp must be given for ``dotted``: its highest ancestor with an __init__.

    grimp builds graphs of top-level packages only, where a portion of a namespace package
    counts as top level (``boundary_fixtures.imports`` under a folder without __init__.py).
    """
    parts = dotted.split(".")
    for size in range(1, len(parts) + 1):
        candidate = ".".join(parts[:size])
        spec = importlib.util.find_spec(candidate)
        if spec is not None and spec.has_location:
            return candidate
    return dotted


def _module_files(roots: Sequence[str]) -> dict[str, str]:
    """Every Python module under ``roots``: dotted name to file, relative to the project root."""
    files: dict[str, str] = {}
    for root in roots:
        spec = importlib.util.find_spec(root)
        if spec is None or not spec.submodule_search_locations:
            raise ImportGraphError(f"{root} is not a package on the Python path")
        for location in spec.submodule_search_locations:
            base = project_relative(location)
            for directory, subdirectories, names in os.walk(location):
                subdirectories[:] = [d for d in subdirectories if not d.startswith((".", "__"))]
                inner = os.path.relpath(directory, location)
                parts = [] if inner == "." else inner.split(os.sep)
                for name in names:
                    if not name.endswith(".py"):
                        continue
                    stem = name[:-3]
                    dotted = ".".join([root, *parts] + ([] if stem == "__init__" else [stem]))
                    files.setdefault(dotted, "/".join([base, *parts, name]))
    return files


def _function_bodies(relative: str, lines: Iterable[int]) -> frozenset[int]:
    """Which of ``lines`` (import statements) sit inside a function body.

    grimp reports imports inside functions like any other; telling them apart needs the
    syntax tree, parsed only when one of the lines is indented and walked statement by
    statement (expressions cannot hold an import).
    """
    path = relative if os.path.isabs(relative) else os.path.join(settings.BASE_DIR, relative)
    try:
        with open(path, "rb") as file:
            source = file.read()
    except OSError:
        return frozenset()
    text_lines = source.splitlines()
    wanted = {
        line for line in lines if 0 < line <= len(text_lines) and text_lines[line - 1][:1].isspace()
    }
    if not wanted:
        return frozenset()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError:
        return frozenset()
    inside: set[int] = set()
    statements: list[ast.stmt] = list(tree.body)
    while statements:
        statement = statements.pop()
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            end = statement.end_lineno or statement.lineno
            inside.update(line for line in wanted if statement.lineno <= line <= end)
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(statement, field, ()):
                if isinstance(child, ast.stmt):
                    statements.append(child)
                else:  # except handlers and match cases hold statements of their own
                    statements.extend(getattr(child, "body", ()))
    return frozenset(inside)


def _apps_file(config: FleetModuleConfig) -> str:
    source = inspect.getsourcefile(type(config))
    return project_relative(source) if source else f"{config.name.replace('.', '/')}/apps.py"


def _depends_on_line(config: FleetModuleConfig) -> int:
    """The line of ``depends_on = ...`` in the module's AppConfig (its class line otherwise)."""
    cls = type(config)
    source = inspect.getsourcefile(cls)
    if not source:
        return 0
    tree = ast.parse(Path(source).read_text(), filename=source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for statement in node.body:
                targets: list[ast.expr] = []
                if isinstance(statement, ast.Assign):
                    targets = list(statement.targets)
                elif isinstance(statement, ast.AnnAssign):
                    targets = [statement.target]
                if any(isinstance(t, ast.Name) and t.id == "depends_on" for t in targets):
                    return statement.lineno
            return node.lineno
    return 0
