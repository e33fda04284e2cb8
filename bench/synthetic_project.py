"""Generate a synthetic modular monolith: 2,000 Python files across 20 fleet modules.

    .venv/bin/python -m bench.synthetic_project [--into .data/bench-synthetic] [--modules 20]
        [--files-per-module 100] [--violations 0]

Each module is a ``FleetModuleConfig`` app with ``depends_on`` (up to three earlier modules, so
the declarations form no cycle), an ``api.py`` with ``__all__``, an ``events.py`` whose events
its dependents subscribe to, a ``core`` package of private code and a ``tests`` package. Private
code and tests call their dependencies' ``api.py`` (some inside functions), handlers import
their events. No models: the import graph is what grows. ``--violations N`` plants N private
imports, so the cost of reporting shows too. The output folder (under ``.data/`` by default,
which git ignores) holds the ``synthetic_fleet`` package and its Django settings, ready for

    PYTHONPATH=.data/bench-synthetic:. .venv/bin/python -m django modules check \\
        --settings=synthetic_fleet.settings

The same seed gives the same project on every machine.
"""

import argparse
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "synthetic_fleet"
SEED = 20261126
NAMES = (
    "fleet",
    "riders",
    "journeys",
    "invoicing",
    "pricing",
    "routing",
    "charging",
    "maintenance",
    "telemetry",
    "dispatch",
    "depots",
    "insurance",
    "support",
    "promotions",
    "partners",
    "payouts",
    "safety",
    "mapping",
    "firmware",
    "reporting",
)
# Files every module has besides its private code and tests.
FIXED_FILES = ("__init__.py", "apps.py", "api.py", "events.py", "handlers.py")


def module_names(count: int) -> list[str]:
    return [
        NAMES[i % len(NAMES)] + (f"{i // len(NAMES)}" if i >= len(NAMES) else "")
        for i in range(count)
    ]


def generate(into: Path, *, modules: int, files_per_module: int, violations: int) -> int:
    """Write the project into ``into`` (replacing it); return how many module files it has."""
    rng = random.Random(SEED)  # noqa: S311 (layout, not secrets)
    names = module_names(modules)
    dependencies = {
        name: sorted(rng.sample(names[:index], min(index, rng.randint(1, 3)))) if index else []
        for index, name in enumerate(names)
    }
    if into.exists():
        shutil.rmtree(into)
    package = into / PACKAGE
    package.mkdir(parents=True)
    _write(package / "__init__.py", '"""A synthetic fleet for the boundary benchmark."""\n')
    _write(package / "urls.py", "urlpatterns: list[object] = []\n")
    _write(package / "settings.py", _settings(names))
    # Tests and private code share what is left once the fixed files and two __init__.py are in.
    remaining = files_per_module - len(FIXED_FILES) - 2
    test_files = max(1, remaining // 4)
    core_files = remaining - test_files
    planted = 0
    written = 0
    for name in names:
        module = package / name
        deps = dependencies[name]
        _write(module / "__init__.py", f'"""The synthetic {name} module."""\n')
        _write(module / "apps.py", _apps(name, deps))
        _write(module / "api.py", _api(name))
        _write(module / "events.py", _events(name))
        _write(module / "handlers.py", _handlers(name, deps))
        _write(module / "core" / "__init__.py", "")
        _write(module / "tests" / "__init__.py", "")
        written += len(FIXED_FILES) + 2
        for number in range(core_files):
            plant = bool(deps) and planted < violations and number == core_files - 1
            _write(module / "core" / f"part_{number:03d}.py", _core(name, deps, number, rng, plant))
            planted += bool(plant)
            written += 1
        for number in range(test_files):
            _write(module / "tests" / f"test_part_{number:03d}.py", _test(name, deps, number, rng))
            written += 1
    return written


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _settings(names: list[str]) -> str:
    listed = "".join(f'    "{PACKAGE}.{name}",\n' for name in names)
    return f'''"""The synthetic fleet: the monolith's test settings with these modules instead."""

from pathlib import Path

from monolith.settings.test import *  # noqa: F403

SYNTHETIC_MODULES = [
{listed}]
PLATFORM_APPS = [app for app in INSTALLED_APPS if app not in FLEET_MODULES]  # noqa: F405
INSTALLED_APPS = PLATFORM_APPS + SYNTHETIC_MODULES
FLEET_MODULES = SYNTHETIC_MODULES
ROOT_URLCONF = "{PACKAGE}.urls"
BOUNDARIES_BASELINE = str(Path(__file__).resolve().parent.parent / "boundaries-todo.json")
'''


def _apps(name: str, deps: list[str]) -> str:
    subscriptions = "".join(
        f"        from {PACKAGE}.{dep}.events import {_camel(dep)}Changed\n" for dep in deps
    )
    subscribes = "".join(
        f'        subscribe({_camel(dep)}Changed, handlers.{dep}_changed, subscriber="{name}")\n'
        for dep in deps
    )
    ready = (
        f"""
    def ready(self) -> None:
{subscriptions}        from {PACKAGE}.{name} import handlers
        from monolith.platform.events import subscribe

{subscribes}"""
        if deps
        else ""
    )
    return f'''from monolith.platform import registry


class {_camel(name)}Config(registry.FleetModuleConfig):
    name = "{PACKAGE}.{name}"
    label = "{name}"
    depends_on = ({"".join(f'"{dep}", ' for dep in deps).rstrip()})
{ready}'''


def _api(name: str) -> str:
    functions = [f"{name}_{verb}" for verb in ("get", "list", "create", "update", "archive")]
    bodies = "".join(
        f'''

def {function}(*, {name}_id: UUID) -> {_camel(name)}Summary:
    """{function.replace("_", " ").capitalize()}."""
    from {PACKAGE}.{name}.core import part_000

    return {_camel(name)}Summary(id={name}_id, label=part_000.describe({name}_id))
'''
        for function in functions
    )
    listed = ", ".join(f'"{f}"' for f in [f"{_camel(name)}Summary", *functions])
    return f'''"""Front door of the synthetic {name} module."""

from dataclasses import dataclass
from uuid import UUID

__all__ = [{listed}]


@dataclass(frozen=True, kw_only=True)
class {_camel(name)}Summary:
    id: UUID
    label: str
{bodies}'''


def _events(name: str) -> str:
    return f'''from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class {_camel(name)}Changed(DomainEvent):
    name: ClassVar[str] = "{name}.{_camel(name)}Changed"
    version: ClassVar[int] = 1

    {name}_id: UUID


@dataclass(frozen=True, kw_only=True)
class {_camel(name)}Archived(DomainEvent):
    name: ClassVar[str] = "{name}.{_camel(name)}Archived"
    version: ClassVar[int] = 1

    {name}_id: UUID
'''


def _handlers(name: str, deps: list[str]) -> str:
    imports = "".join(f"from {PACKAGE}.{dep}.events import {_camel(dep)}Changed\n" for dep in deps)
    bodies = "".join(
        f'''

def {dep}_changed(event: {_camel(dep)}Changed) -> None:
    """{name} keeps its copy of {dep} current."""
    from {PACKAGE}.{name}.core import part_001

    part_001.describe(event.{dep}_id)
'''
        for dep in deps
    )
    return f'"""Reactions of {name} to its dependencies\' events."""\n\n{imports}{bodies}'


def _core(name: str, deps: list[str], number: int, rng: random.Random, plant: bool) -> str:
    lines = ["from uuid import UUID", ""]
    calls = []
    if deps and rng.random() < 0.4:
        dep = rng.choice(deps)
        lines.append(f"from {PACKAGE}.{dep} import api as {dep}_api")
        calls.append(f"    {dep}_api.{dep}_get({dep}_id=item_id)")
    if number:
        lines.append(
            f"from {PACKAGE}.{name}.core import part_{rng.randrange(number):03d} as earlier"
        )
        calls.append("    earlier.describe(item_id)")
    if plant:
        lines.append(f"from {PACKAGE}.{deps[0]}.core import part_002 as borrowed")
        calls.append("    borrowed.describe(item_id)")
    lazy = ""
    if deps and rng.random() < 0.2:
        dep = rng.choice(deps)
        lazy = f"""

def refresh_{number:03d}(item_id: UUID) -> str:
    from {PACKAGE}.{dep}.api import {dep}_list

    return {dep}_list({dep}_id=item_id).label
"""
    body = "\n".join(calls) or "    pass"
    return (
        "\n".join(lines)
        + f'''


def describe(item_id: UUID) -> str:
    """Part {number} of {name}'s private code."""
    return f"{name}-{number}-{{item_id}}"


def touch(item_id: UUID) -> None:
{body}
{lazy}'''
    )


def _test(name: str, deps: list[str], number: int, rng: random.Random) -> str:
    dep_import = ""
    if deps:
        dep = rng.choice(deps)
        dep_import = f"from {PACKAGE}.{dep} import api as {dep}_api\n"
    return f'''import uuid

{dep_import}from {PACKAGE}.{name} import api
from {PACKAGE}.{name}.core import part_{number % 3:03d} as part


def test_part_{number:03d}() -> None:
    item_id = uuid.uuid4()
    assert api.{name}_get({name}_id=item_id).id == item_id
    assert part.describe(item_id).startswith("{name}-")
'''


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, default=ROOT / ".data" / "bench-synthetic")
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--files-per-module", type=int, default=100)
    parser.add_argument("--violations", type=int, default=0)
    args = parser.parse_args()
    if args.files_per_module < len(FIXED_FILES) + 4:
        parser.error(f"--files-per-module must be at least {len(FIXED_FILES) + 4}")
    written = generate(
        args.into,
        modules=args.modules,
        files_per_module=args.files_per_module,
        violations=args.violations,
    )
    print(f"Wrote {written} files in {args.modules} modules to {args.into}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
