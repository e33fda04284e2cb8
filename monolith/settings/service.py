"""An extracted service: one fleet module served here, every other module reached over HTTP.

``FLEET_SERVICE_MODULE`` names the module; ``extracted/<module>/settings.py`` sets it and
imports this (``python manage.py strangler extract <module>`` writes that shim). On top of the
production settings:

- Installed: the platform and the served module. The modules it depends on, directly or not,
  are installed for their code only (``monolith.platform.extraction.remote_modules``): the
  served module's code imports their ``api.py``, but their tables are not here and the router
  refuses any query on them.
- ``DATABASE_URL`` is the service's own database: the served module's tables and the
  platform's (accounts, tokens, sessions, flags). ``manage.py migrate`` runs no migration of any
  other fleet module.
- ``FLEET_MODULE_URL_<LABEL>``: the base URL of every other fleet module (the monolith's, until
  that module is extracted too), all required, kept in ``FLEET_MODULE_URLS``.
- ``FLEET_INTERNAL_TOKEN_SECRET``: the secret the deployables share to sign internal calls
  (required by the production settings); while it is rotated,
  ``FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS`` is accepted too (``settings.interservice``). The
  modules served elsewhere answer through their own ``api.py``, turned into HTTP calls
  (``monolith.platform.interservice``), and REST requests the edge forwards authenticate with
  its signed token.

A missing or malformed value stops the start-up with one line naming the variable.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from monolith.platform.extraction.spec import module_url_variable
from monolith.settings.celery import beat_schedule
from monolith.settings.environment import env_str
from monolith.settings.module_dependencies import with_dependencies
from monolith.settings.production import *  # noqa: F403
from monolith.settings.production import (
    CELERY_BEAT_SCHEDULE,
    FLEET_MODULES,
    INSTALLED_APPS,
    REST_FRAMEWORK,
    SPECTACULAR_SETTINGS,
)

_known = [path.rsplit(".", 1)[-1] for path in FLEET_MODULES]

FLEET_SERVICE_MODULE = env_str("FLEET_SERVICE_MODULE", "")
if FLEET_SERVICE_MODULE not in _known:
    raise ImproperlyConfigured(
        f"Set FLEET_SERVICE_MODULE to the module this service serves, one of "
        f"{', '.join(_known)} (got {FLEET_SERVICE_MODULE!r})."
    )


def _module_url(label: str) -> str:
    name = module_url_variable(label)
    raw = env_str(name, "").strip()
    if not raw:
        raise ImproperlyConfigured(
            f"Set {name} to the base URL of the {label} module (for example "
            f"http://monolith:8000): the {FLEET_SERVICE_MODULE} service reaches {label} over HTTP."
        )
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a base URL: use http://host:port or https://host[/path]."
        )
    return raw.rstrip("/")


FLEET_MODULE_URLS = {label: _module_url(label) for label in _known if label != FLEET_SERVICE_MODULE}

# FLEET_INTERNAL_TOKEN_SECRET: required by the production settings (and ..._PREVIOUS, checked
# by the interservice settings when set).
FLEET_DEPLOYABLE_NAME = env_str("FLEET_DEPLOYABLE_NAME", f"{FLEET_SERVICE_MODULE}-service")
# REST requests the edge forwards carry the caller's identity in a signed internal token.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "monolith.platform.interservice.authentication.InternalTokenAuthentication",
        *REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"],  # type: ignore[misc]
    ],
}

FLEET_REMOTE_MODULES = tuple(
    label
    for label in with_dependencies(FLEET_SERVICE_MODULE, _known)
    if label != FLEET_SERVICE_MODULE
)
FLEET_MODULES = [f"modules.{FLEET_SERVICE_MODULE}"]
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if not app.startswith("modules.")),
    *FLEET_MODULES,
    *(f"monolith.platform.extraction.remote_modules.{label}" for label in FLEET_REMOTE_MODULES),
]
# The served module's tables stay on `default` (FLEET_MODULE_DATABASES is empty): the
# service's own database.
DATABASE_ROUTERS = ["monolith.platform.extraction.router.ServiceDatabaseRouter"]
# Without migrations the remote modules' tables are never created, nor recorded as applied.
MIGRATION_MODULES = dict.fromkeys(FLEET_REMOTE_MODULES)
# Beat sends the served module's tasks and the platform's; the other modules' tasks are their
# own deployables' (their tables are not here).
CELERY_BEAT_SCHEDULE = beat_schedule(CELERY_BEAT_SCHEDULE, served_elsewhere=FLEET_MODULE_URLS)
# Cohort routing's name for what this deployable serves (X-Served-By, metrics' side label).
COHORT_DEPLOYABLE_SIDE = "service"
# The OpenAPI enum names of modules whose models are not installed here cannot be imported.
_enum_names: dict[str, str] = SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]  # type: ignore[assignment]
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "ENUM_NAME_OVERRIDES": {
        name: path
        for name, path in _enum_names.items()
        if path.split(".")[1] in (FLEET_SERVICE_MODULE, *FLEET_REMOTE_MODULES)
    },
}
