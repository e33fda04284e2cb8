"""The peel-ability check installs one module and its declared dependencies, its tables apart."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import django
django.setup()
from django.apps import apps
from modules.users.models import Rider
from monolith.platform.registry import fleet_modules, module_database
from django.db import router
print("installed", sorted(module.label for module in fleet_modules()))
print("users database", module_database("users"), router.db_for_write(Rider))
print("accounts database", router.db_for_write(apps.get_model("accounts", "User")))
"""


def _peeled(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ, FLEET_PEEL_MODULE=module, DJANGO_SETTINGS_MODULE="monolith.settings.peel"
    )
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_a_peeled_module_gets_only_its_declared_dependencies_and_its_own_database() -> None:
    result = _peeled("users", "-c", PROBE)
    assert result.returncode == 0, result.stderr
    assert "installed ['users']" in result.stdout
    assert "users database users users" in result.stdout
    assert "accounts database default" in result.stdout


def test_dependencies_are_installed_with_the_module_they_serve() -> None:
    result = _peeled(
        "billing",
        "-c",
        "import django; django.setup(); "
        "from monolith.platform.registry import fleet_modules; "
        "print(sorted(m.label for m in fleet_modules()))",
    )
    assert result.returncode == 0, result.stderr
    assert "['billing', 'trips', 'users', 'vehicles']" in result.stdout


def test_dependencies_of_dependencies_are_installed_so_the_import_check_judges_declared_use() -> (
    None
):
    """billing does not declare vehicles, yet its peel installs vehicles (through trips): a
    peeled run cannot tell undeclared use. The import check does; the imports fixture plants
    it (towing -> garage -> depot, see test_a_dependency_of_a_dependency_must_still_be_declared).
    """
    result = _peeled(
        "billing",
        "-c",
        "import django; django.setup(); "
        "from django.apps import apps; "
        "print(apps.get_app_config('billing').depends_on, apps.is_installed('modules.vehicles'))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["('trips',", "'users')", "True"]


def test_a_typo_in_depends_on_is_one_clear_error() -> None:
    """The typo is planted in memory, before the settings read the declaration."""
    result = _peeled(
        "billing",
        "-c",
        "import modules.billing.apps as billing_apps; "
        "billing_apps.BillingConfig.depends_on = ('trips', 'invoicing'); "
        "import django; django.setup()",
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: modules.billing.apps: depends_on names "
        "'invoicing', which is not a fleet module (known: vehicles, users, trips, billing)."
    )


def test_an_unknown_module_is_one_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monolith.peel_check", "garage"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown module garage" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["", "garage"])
def test_peel_settings_refuse_a_missing_or_unknown_module(value: str) -> None:
    result = _peeled(value, "-c", "import django; django.setup()")
    assert result.returncode != 0
    assert "Set FLEET_PEEL_MODULE to one of vehicles, users, trips, billing" in result.stderr
