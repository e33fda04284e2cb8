"""Fleet staff reach every fleet screen in the admin; riders reach none."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from monolith.platform.access import Role
from monolith.platform.registry import fleet_modules

FLEET_LABELS = {config.label for config in fleet_modules()}
FLEET_MODELS = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in FLEET_LABELS
)


def test_every_fleet_module_has_admin_screens() -> None:
    assert {"vehicles", "users", "trips", "billing"} == FLEET_LABELS
    assert {label for label, _ in FLEET_MODELS} == FLEET_LABELS


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "model_name"), FLEET_MODELS)
def test_fleet_staff_open_every_fleet_changelist(
    make_user: Callable[..., Any], app_label: str, model_name: str
) -> None:
    client = Client()
    client.force_login(make_user("staff-olga", Role.FLEET_STAFF, is_staff=True))
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "model_name"), FLEET_MODELS[:3])
def test_riders_are_sent_to_the_login_page(
    make_user: Callable[..., Any], app_label: str, model_name: str
) -> None:
    client = Client()
    client.force_login(make_user("rider-rick", Role.RIDER))
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_the_migration_team_may_view_routing_records_and_feeds_and_nothing_of_the_fleet() -> None:
    granted = set(
        Group.objects.get(name=Role.MIGRATION_TEAM.value).permissions.values_list(
            "content_type__app_label", "codename"
        )
    )
    assert ("cohorts", "view_routingchange") in granted
    # And how far each feed between deployables has been read.
    assert {(label, codename) for label, codename in granted if label != "cohorts"} == {
        ("platform", "view_feedposition")
    }
    assert all(codename.startswith("view_") for _, codename in granted)
