"""The test suite: real PostgreSQL, fast password hashing."""

from monolith.settings.base import *  # noqa: F403

DEBUG = False
# Every test proves the modules keep to their own tables.
BOUNDARIES_SQL_GUARD = "raise"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files are not collected for tests; the browser test serves them through finders.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
