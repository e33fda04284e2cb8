"""The module registry: what each fleet module declares, read by every boundary check.

A fleet module's AppConfig subclasses ``FleetModuleConfig`` and declares, once, the modules it
may depend on. Its public surface is ``api.py`` and ``events.py`` unless it says otherwise.
The import check, the Django system checks, the runtime SQL guard, the ``modules`` command and
the module map all read these declarations; nothing is listed twice.
"""

from django.apps import AppConfig, apps


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
