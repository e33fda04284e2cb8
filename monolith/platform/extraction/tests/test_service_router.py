"""In a service, the tables of the modules served elsewhere are refused, never created."""

import uuid

import pytest
from django.apps import apps
from django.db import router
from django.test import override_settings
from pytest_django import DjangoAssertNumQueries

from monolith.platform.extraction.remote_modules import RemoteModuleConfig, remote_module_config
from monolith.platform.extraction.router import RemoteModuleQueried
from monolith.platform.registry import FleetModuleConfig

AS_THE_TRIPS_SERVICE = override_settings(
    DATABASE_ROUTERS=["monolith.platform.extraction.router.ServiceDatabaseRouter"],
    FLEET_REMOTE_MODULES=("vehicles", "users"),
    FLEET_MODULE_URLS={"vehicles": "http://monolith:8000", "users": "http://monolith:8000"},
)


@pytest.mark.django_db
@AS_THE_TRIPS_SERVICE
def test_a_query_on_a_remote_module_is_refused_before_any_sql(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    rider = apps.get_model("users", "Rider")
    with django_assert_num_queries(0), pytest.raises(RemoteModuleQueried) as refused:
        rider.objects.count()
    with django_assert_num_queries(0), pytest.raises(RemoteModuleQueried):
        rider.objects.create(id=uuid.uuid4(), display_name="Ann")
    assert str(refused.value) == (
        "users.Rider belongs to users, which this service reaches at http://monolith:8000: its "
        "tables are not in this database (call users.api over HTTP)"
    )
    # The served module and the platform are untouched.
    assert apps.get_model("trips", "Trip").objects.count() == 0


@AS_THE_TRIPS_SERVICE
def test_no_migration_creates_a_remote_module_table() -> None:
    assert not router.allow_migrate("default", "users")
    assert not router.allow_migrate("default", "vehicles")
    assert router.allow_migrate("default", "trips")
    assert router.allow_migrate("default", "accounts")


def test_a_remote_module_is_installed_as_a_plain_app_under_its_own_label() -> None:
    config = remote_module_config("users")
    assert config is remote_module_config("users")
    assert issubclass(config, RemoteModuleConfig)
    assert not issubclass(config, FleetModuleConfig)
    assert (config.name, config.label) == ("modules.users", "users")
