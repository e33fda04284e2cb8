"""The database router of an extracted service: its module here, the modules it reaches away."""

from typing import Any

from django.conf import settings
from django.db.models import Model

from monolith.platform.registry import ModuleDatabaseRouter


class RemoteModuleQueried(RuntimeError):
    """Code in this service queried a table of a module that another deployable serves.

    The module's data is not in this service's database: the call that led here must reach
    the module over HTTP instead.
    """


def remote_modules() -> tuple[str, ...]:
    """The modules installed in this deployable for their code only (``FLEET_REMOTE_MODULES``)."""
    return tuple(getattr(settings, "FLEET_REMOTE_MODULES", ()))


class ServiceDatabaseRouter(ModuleDatabaseRouter):
    """``ModuleDatabaseRouter``, refusing the tables of the modules served elsewhere.

    Reads and writes on them raise ``RemoteModuleQueried`` before any SQL is sent, and no
    migration creates them: a service's database holds its own module's tables only (and the
    platform's: accounts, tokens, sessions).
    """

    def _alias(self, model: type[Model]) -> str:
        label = model._meta.app_label
        if label in remote_modules():
            base_url = getattr(settings, "FLEET_MODULE_URLS", {}).get(label, "?")
            raise RemoteModuleQueried(
                f"{model._meta.label} belongs to {label}, which this service reaches at "
                f"{base_url}: its tables are not in this database (call {label}.api over HTTP)"
            )
        return super()._alias(model)

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        if app_label in remote_modules():
            return False
        return super().allow_migrate(db, app_label, **hints)
