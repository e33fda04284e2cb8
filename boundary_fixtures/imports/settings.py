"""The monolith's test settings with the fixture modules in place of the real four."""

import os
from pathlib import Path

from monolith.settings.test import *  # noqa: F403

FIXTURE_MODULES = [
    "boundary_fixtures.imports.fleet.depot",
    "boundary_fixtures.imports.fleet.garage",
    "boundary_fixtures.imports.fleet.courier",
    "boundary_fixtures.imports.fleet.dispatch",
    "boundary_fixtures.imports.fleet.charging",
    "boundary_fixtures.imports.fleet.scanner",
    "boundary_fixtures.imports.fleet.fares",
    "boundary_fixtures.imports.fleet.tolls",
    "boundary_fixtures.imports.fleet.meters",
    "boundary_fixtures.imports.fleet.parking",
    "boundary_fixtures.imports.fleet.ledger",
    "boundary_fixtures.imports.fleet.towing",
    "boundary_fixtures.imports.fleet.rental",
]
INSTALLED_APPS = [
    app
    for app in INSTALLED_APPS  # noqa: F405
    if app not in FLEET_MODULES  # noqa: F405
] + FIXTURE_MODULES
FLEET_MODULES = FIXTURE_MODULES
ROOT_URLCONF = "boundary_fixtures.imports.urls"
# Tests point this at a temporary file; the default lives next to the fixture and is not kept.
BOUNDARIES_BASELINE = os.environ.get(
    "BOUNDARIES_BASELINE", str(Path(__file__).resolve().parent / "boundaries-todo.json")
)
