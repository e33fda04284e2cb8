"""The module registry: what each fleet module declares, read by every boundary check.

A fleet module's AppConfig subclasses ``FleetModuleConfig`` and declares, once, the modules it
may depend on. Its public surface is ``api.py`` and ``events.py`` unless it says otherwise.
The import check, the Django system checks, the runtime SQL guard, the ``modules`` command and
the module map all read these declarations; nothing is listed twice.
"""

from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Model


class FleetModuleConfig(AppConfig):
    """A business module: its own tables, one front door, declared dependencies."""

    default_auto_field = "django.db.models.BigAutoField"
    # The modules this one may call (through their api.py) or subscribe to (their events.py).
    depends_on: tuple[str, ...] = ()
    # The submodules other modules may import; everything else in the module is private.
    public_surface: tuple[str, ...] = ("api", "events")

    @property
    def public_modules(self) -> frozenset[str]:
        """Dotted names another module may import: the package itself and its public surface."""
        return frozenset({self.name, *(f"{self.name}.{part}" for part in self.public_surface)})

    def owned_tables(self) -> frozenset[str]:
        """Every table this module's models use, many-to-many tables included."""
        tables: set[str] = set()
        for model in self.get_models(include_auto_created=True):
            tables.add(model._meta.db_table)
        return frozenset(tables)


def fleet_modules() -> list[FleetModuleConfig]:
    """Every installed fleet module, in INSTALLED_APPS order."""
    return [config for config in apps.get_app_configs() if isinstance(config, FleetModuleConfig)]


def fleet_module(label: str) -> FleetModuleConfig:
    config = apps.get_app_config(label)
    if not isinstance(config, FleetModuleConfig):
        raise LookupError(f"{label!r} is an app but not a fleet module.")
    return config


def module_of_python_name(dotted: str) -> FleetModuleConfig | None:
    """The fleet module a Python module (``modules.trips.services``) belongs to, if any."""
    for config in fleet_modules():
        if dotted == config.name or dotted.startswith(config.name + "."):
            return config
    return None


def module_database(label: str) -> str:
    """The database alias that holds ``label``'s tables: ``default`` unless it was peeled off.

    ``settings.FLEET_MODULE_DATABASES`` maps a module to its own alias (the peel-ability check
    does this); the router below sends the module's queries and migrations there.
    """
    mapping: dict[str, str] = getattr(settings, "FLEET_MODULE_DATABASES", {})
    return mapping.get(label, DEFAULT_DB_ALIAS)


def module_atomic(label: str, *, savepoint: bool = True) -> transaction.Atomic:
    """``transaction.atomic`` on the module's own database; use it in the module's services.

    A module's transaction covers its own tables only: that is what keeps it movable to a
    database (and a service) of its own.
    """
    return transaction.atomic(using=module_database(label), savepoint=savepoint)


class ModuleDatabaseRouter:
    """Sends each module's models to its database (``FLEET_MODULE_DATABASES``); the rest stays
    on ``default``. No relation may cross databases."""

    def _alias(self, model: type[Model]) -> str:
        return module_database(model._meta.app_label)

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return self._alias(model)

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return self._alias(model)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        # _meta, not type(): request.user arrives wrapped in a SimpleLazyObject.
        return module_database(obj1._meta.app_label) == module_database(obj2._meta.app_label)

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return module_database(app_label) == db
