"""The fleet modules' declared dependencies, read at settings time.

Settings that install only part of the fleet (the peel-ability check, an extracted service) need
``depends_on`` before Django's app registry exists, so it is read here from each module's
AppConfig class, the one place it is declared.
"""

import importlib
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured


def declared_dependencies(label: str, known: Sequence[str]) -> tuple[str, ...]:
    """``depends_on`` of ``modules.<label>``; every name in it must be one of ``known``."""
    apps_module = importlib.import_module(f"modules.{label}.apps")
    configs = [
        value
        for value in vars(apps_module).values()
        if isinstance(value, type) and getattr(value, "name", None) == f"modules.{label}"
    ]
    if len(configs) != 1:
        raise ImproperlyConfigured(f"modules.{label}.apps must define one AppConfig.")
    declared = tuple(getattr(configs[0], "depends_on", ()))
    unknown = [dependency for dependency in declared if dependency not in known]
    if unknown:
        # A typo here would otherwise surface as a ModuleNotFoundError for modules.<typo>.apps.
        raise ImproperlyConfigured(
            f"modules.{label}.apps: depends_on names {', '.join(map(repr, unknown))}, which "
            f"{'is not a fleet module' if len(unknown) == 1 else 'are not fleet modules'} "
            f"(known: {', '.join(known)})."
        )
    return declared


def with_dependencies(label: str, known: Sequence[str]) -> list[str]:
    """``label`` and every module it depends on, directly or not, dependencies first."""
    ordered: list[str] = []

    def visit(current: str, path: tuple[str, ...]) -> None:
        if current in path:
            raise ImproperlyConfigured(f"Module dependency cycle: {' -> '.join((*path, current))}")
        if current in ordered:
            return
        for dependency in declared_dependencies(current, known):
            visit(dependency, (*path, current))
        ordered.append(current)

    visit(label, ())
    return ordered
