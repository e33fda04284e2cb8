"""Settings for the ORM boundary fixture project: the platform apps plus three fixture modules."""

import os
from pathlib import Path

import dj_database_url

# Paths are reported relative to the repository root, as in the real project.
BASE_DIR = Path(__file__).resolve().parent.parent.parent
SECRET_KEY = "boundary-fixtures-orm-not-a-secret"  # noqa: S105
DEBUG = False
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "monolith.accounts",
    "monolith.platform",
    "boundary_fixtures.orm.fixture_lender",
    "boundary_fixtures.orm.fixture_borrower",
    "boundary_fixtures.orm.fixture_clean",
]
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# System checks open no connection; the settings only need a database to name.
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}

# The tests point this at a baseline of their own; by default nothing is baselined.
BOUNDARIES_BASELINE = os.environ.get(
    "BOUNDARIES_BASELINE", str(Path(__file__).resolve().parent / "boundaries-todo.json")
)
