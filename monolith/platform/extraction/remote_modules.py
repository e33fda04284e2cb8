"""Fleet modules installed in a service that does not serve them.

A service serves one module, but that module's code imports the ``api.py`` of the modules it
depends on, and those import their models. Django refuses a model whose app is not installed,
so each of them is installed here under a plain ``AppConfig`` instead of its
``FleetModuleConfig``: its classes import, but it is no fleet module of this deployable. The
registry (``fleet_modules()``) then lists only the served module, so the URLs, the outbox relay
and the role grants cover it alone; the module's ``ready()`` (its event subscriptions) does not
run; its admin is withdrawn; its ``api.py`` functions become calls over HTTP to the deployable
that serves it (``monolith.platform.interservice.facade``); and ``ServiceDatabaseRouter``
refuses any query on its tables, should code reach past the api.

``INSTALLED_APPS`` names one with ``monolith.platform.extraction.remote_modules.<label>``.
"""

from functools import cache

from django.apps import AppConfig
from django.contrib import admin


class RemoteModuleConfig(AppConfig):
    """A fleet module served by another deployable: its code is here, its tables are not."""

    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The admin found the module's admin.py before this runs (it is installed first); its
        # pages would only fail on the router's refusal.
        for model in self.get_models():
            if admin.site.is_registered(model):
                admin.site.unregister(model)
        # Its api.py answers from the deployable that serves it, over HTTP.
        from monolith.platform.interservice.facade import remote_api_install

        remote_api_install(self.label)


@cache
def remote_module_config(label: str) -> type[RemoteModuleConfig]:
    """The AppConfig class that installs ``modules.<label>`` as served elsewhere."""
    return type(
        f"Remote{label.title()}Config",
        (RemoteModuleConfig,),
        {
            "__module__": __name__,
            "name": f"modules.{label}",
            "label": label,
            "verbose_name": f"{label.title()} (served elsewhere)",
        },
    )


def __getattr__(label: str) -> type[RemoteModuleConfig]:
    # Django imports an INSTALLED_APPS entry ``...remote_modules.users`` as a class path.
    if label.startswith("__"):
        raise AttributeError(label)
    return remote_module_config(label)
