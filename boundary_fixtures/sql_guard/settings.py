"""The test settings, with the SQL guard in the mode ``FIXTURE_SQL_GUARD`` names (default raise)."""

import os

from monolith.settings.test import *  # noqa: F403

BOUNDARIES_SQL_GUARD = os.environ.get("FIXTURE_SQL_GUARD", "raise")
