from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from monolith.platform.access import Role


@pytest.mark.django_db
def test_token_is_issued_for_good_credentials(rider: Any) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": rider.username, "password": "pw-" + rider.username}
    )
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


@pytest.mark.django_db
def test_wrong_password_is_a_400(rider: Any) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": rider.username, "password": "nope"}
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_missing_field_is_named() -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "x"})
    assert response.status_code == 400
    assert "password" in response.json()


@pytest.mark.django_db
def test_migrate_creates_every_role_and_grants_staff_fleet_permissions() -> None:
    names = set(Group.objects.values_list("name", flat=True))
    assert {role.value for role in Role} <= names
    staff = Group.objects.get(name=Role.FLEET_STAFF.value)
    codenames = set(staff.permissions.values_list("codename", flat=True))
    assert {"view_user", "view_vehicle", "change_trip", "view_ledgerentry"} <= codenames
    assert "refund_payment" in codenames  # billing's own permission for refunds
    assert not any(code.startswith("delete_") for code in codenames)
