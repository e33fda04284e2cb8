"""Production: refuses to start with an insecure secret key or DEBUG on."""

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.base import *  # noqa: F403
from monolith.settings.base import DEBUG, INSECURE_SECRET_KEY, SECRET_KEY
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

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Probes and scrapers talk plain HTTP to the pod.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
