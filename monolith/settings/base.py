"""Settings shared by every environment; everything that varies comes from the environment.

Variables: ``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL``, ``SECRET_KEY``, ``DEBUG``,
``ALLOWED_HOSTS``, ``CSRF_TRUSTED_ORIGINS``, ``LOG_LEVEL``, ``DATABASE_CONN_MAX_AGE``.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from monolith.settings.booking import *  # noqa: F403
from monolith.settings.booking import CELERY_BEAT_BOOKING
from monolith.settings.celery import *  # noqa: F403
from monolith.settings.celery import CELERY_BEAT_PLATFORM, beat_schedule
from monolith.settings.cohorts import *  # noqa: F403
from monolith.settings.cohorts import CELERY_BEAT_COHORTS
from monolith.settings.drf import *  # noqa: F403
from monolith.settings.edge import *  # noqa: F403
from monolith.settings.environment import env_bool, env_int, env_list, env_str
from monolith.settings.events import *  # noqa: F403
from monolith.settings.events import CELERY_BEAT_EVENTS
from monolith.settings.interservice import *  # noqa: F403
from monolith.settings.logging import build_logging
from monolith.settings.spectacular import *  # noqa: F403
from monolith.settings.waffle import *  # noqa: F403

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Development default only; production.py refuses to start with it.
INSECURE_SECRET_KEY = "django-insecure-fleet-platform-development-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

FLEET_MODULES = [
    "modules.vehicles",
    "modules.users",
    "modules.trips",
    "modules.billing",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "waffle",
    "monolith.accounts",
    "monolith.platform",
    "monolith.cohorts",
    *FLEET_MODULES,
]

MIDDLEWARE = [
    "monolith.platform.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "monolith.cohorts.middleware.CohortRoutingMiddleware",
    "monolith.platform.edge.middleware.EdgeProxyMiddleware",
]

ROOT_URLCONF = "monolith.urls"
WSGI_APPLICATION = "monolith.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/admin/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_from_url() -> dict[str, object]:
    url = env_str("DATABASE_URL", "")
    if not url:
        raise ImproperlyConfigured(
            "DATABASE_URL is not set. Point it at PostgreSQL "
            "(postgres://user:password@host:5432/name), or run through "
            "`python -m monolith.embedded -- <command>` (what `make run` does) "
            "to get an embedded PostgreSQL."
        )
    config = dict(dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60)))
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database_from_url()}
# Every module's tables live on `default` unless FLEET_MODULE_DATABASES gives it its own alias.
DATABASE_ROUTERS = ["monolith.platform.registry.ModuleDatabaseRouter"]
FLEET_MODULE_DATABASES: dict[str, str] = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

FLEET_CURRENCY = env_str("FLEET_CURRENCY", "EUR")

# The runtime SQL guard (decision 0005): "raise", "warn" or "off" (nothing installed).
BOUNDARIES_SQL_GUARD = env_str("BOUNDARIES_SQL_GUARD", "warn")

LOGGING = build_logging(env_str("LOG_LEVEL", "INFO"))

# The payment provider billing charges through; the sandbox behaves like a provider's test mode.
BILLING_PAYMENT_GATEWAY = env_str(
    "BILLING_PAYMENT_GATEWAY", "modules.billing.gateways.SandboxGateway"
)

# Every settings file's beat entries, in one schedule; a service keeps only its own module's
# (settings.service).
CELERY_BEAT_SCHEDULE = beat_schedule(
    CELERY_BEAT_PLATFORM, CELERY_BEAT_EVENTS, CELERY_BEAT_COHORTS, CELERY_BEAT_BOOKING
)
