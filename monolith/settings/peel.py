"""The peel-ability check: one module, only its declared dependencies, its tables apart.

``FLEET_PEEL_MODULE=trips DJANGO_SETTINGS_MODULE=monolith.settings.peel pytest modules/trips``

Installs the platform, the module and the modules it declares it depends on (and theirs),
nothing else, and puts the module's tables on a database alias of its own (the same server,
another database). If the module's tests pass like this, it touches no table that is not its
own and needs no app that is not installed: it can be peeled off.

Dependencies of dependencies are installed too (billing -> trips -> vehicles), so this does not
prove that billing calls only what it declares: the import check (``modules check``) does.
"""

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.environment import env_str
from monolith.settings.module_dependencies import with_dependencies
from monolith.settings.test import *  # noqa: F403
from monolith.settings.test import DATABASES, FLEET_MODULES, INSTALLED_APPS

_known = [path.rsplit(".", 1)[-1] for path in FLEET_MODULES]


PEEL_MODULE = env_str("FLEET_PEEL_MODULE", "")
if PEEL_MODULE not in _known:
    raise ImproperlyConfigured(
        f"Set FLEET_PEEL_MODULE to one of {', '.join(_known)} (got {PEEL_MODULE!r})."
    )

FLEET_MODULES = [f"modules.{label}" for label in with_dependencies(PEEL_MODULE, _known)]
INSTALLED_APPS = [app for app in INSTALLED_APPS if not app.startswith("modules.")] + FLEET_MODULES

DATABASES = {
    **DATABASES,
    PEEL_MODULE: {**DATABASES["default"], "NAME": f"{DATABASES['default']['NAME']}_{PEEL_MODULE}"},
}
FLEET_MODULE_DATABASES = {PEEL_MODULE: PEEL_MODULE}
