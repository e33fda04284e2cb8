"""Production: refuses an insecure secret key, DEBUG on, or a missing internal token secret."""

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.base import *  # noqa: F403
from monolith.settings.base import (
    DEBUG,
    FLEET_INTERNAL_TOKEN_SECRET,
    INSECURE_SECRET_KEY,
    SECRET_KEY,
)
from monolith.settings.environment import env_bool, env_int

if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production; unset DEBUG or set DEBUG=false.")
if (
    SECRET_KEY == INSECURE_SECRET_KEY
    or SECRET_KEY.startswith("django-insecure")
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or insecure: set it to a random string of at least 50 characters, "
        'for example: python -c "import secrets; print(secrets.token_urlsafe(64))"'
    )

if len(FLEET_INTERNAL_TOKEN_SECRET) < 32:
    raise ImproperlyConfigured(
        "Set FLEET_INTERNAL_TOKEN_SECRET to the secret the deployables share to sign internal "
        "calls: the same value in the monolith and every service, at least 32 characters."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Probes and scrapers talk plain HTTP to the pod.
# So do the other deployables, on the cluster's network, with signed calls.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$", r"^internal/"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
