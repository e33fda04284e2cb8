"""The peel-ability check: one module, only its declared dependencies, its tables apart.

``FLEET_PEEL_MODULE=trips DJANGO_SETTINGS_MODULE=monolith.settings.peel pytest modules/trips``

Installs the platform, the module and the modules it declares it depends on (and theirs),
nothing else, and puts the module's tables on a database alias of its own (the same server,
another database). If the module's tests pass like this, it touches no table that is not its
own and needs no app that is not installed: it can be peeled off.

Dependencies of dependencies are installed too (billing -> trips -> vehicles), so this does not
prove that billing calls only what it declares: the import check (``modules check``) does.
"""

import importlib

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.environment import env_str
from monolith.settings.test import *  # noqa: F403
from monolith.settings.test import DATABASES, FLEET_MODULES, INSTALLED_APPS

_known = [path.rsplit(".", 1)[-1] for path in FLEET_MODULES]


def _declared_dependencies(label: str) -> tuple[str, ...]:
    """Read ``depends_on`` from the module's AppConfig, the one place it is declared."""
    apps_module = importlib.import_module(f"modules.{label}.apps")
    configs = [
        value
        for value in vars(apps_module).values()
        if isinstance(value, type) and getattr(value, "name", None) == f"modules.{label}"
    ]
    if len(configs) != 1:
        raise ImproperlyConfigured(f"modules.{label}.apps must define one AppConfig.")
    declared = tuple(getattr(configs[0], "depends_on", ()))
    unknown = [dependency for dependency in declared if dependency not in _known]
    if unknown:
        # A typo here would otherwise surface as a ModuleNotFoundError for modules.<typo>.apps.
        raise ImproperlyConfigured(
            f"modules.{label}.apps: depends_on names {', '.join(map(repr, unknown))}, which "
            f"{'is not a fleet module' if len(unknown) == 1 else 'are not fleet modules'} "
            f"(known: {', '.join(_known)})."
        )
    return declared


def _with_dependencies(label: str) -> list[str]:
    """``label`` and every module it depends on, directly or not, dependencies first."""
    ordered: list[str] = []

    def visit(current: str, path: tuple[str, ...]) -> None:
        if current in path:
            raise ImproperlyConfigured(f"Module dependency cycle: {' -> '.join((*path, current))}")
        if current in ordered:
            return
        for dependency in _declared_dependencies(current):
            visit(dependency, (*path, current))
        ordered.append(current)

    visit(label, ())
    return ordered


PEEL_MODULE = env_str("FLEET_PEEL_MODULE", "")
if PEEL_MODULE not in _known:
    raise ImproperlyConfigured(
        f"Set FLEET_PEEL_MODULE to one of {', '.join(_known)} (got {PEEL_MODULE!r})."
    )

FLEET_MODULES = [f"modules.{label}" for label in _with_dependencies(PEEL_MODULE)]
INSTALLED_APPS = [app for app in INSTALLED_APPS if not app.startswith("modules.")] + FLEET_MODULES

DATABASES = {
    **DATABASES,
    PEEL_MODULE: {**DATABASES["default"], "NAME": f"{DATABASES['default']['NAME']}_{PEEL_MODULE}"},
}
FLEET_MODULE_DATABASES = {PEEL_MODULE: PEEL_MODULE}
