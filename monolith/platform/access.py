"""Roles and the REST permissions built on them.

Roles are Django groups (the users module creates them): riders use the API for themselves,
fleet staff run the fleet, the migration team routes cohorts between deployables.
"""

from enum import StrEnum
from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class Role(StrEnum):
    RIDER = "rider"
    FLEET_STAFF = "fleet-staff"
    MIGRATION_TEAM = "migration-team"


def user_roles(user: Any) -> frozenset[str]:
    """The role names of ``user``, read once and kept on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_fleet_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._fleet_roles = cached
    return cached


def is_fleet_staff(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser) or Role.FLEET_STAFF in user_roles(user)


class IsFleetStaff(BasePermission):
    """Only fleet staff (or superusers)."""

    message = "Only fleet staff may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_fleet_staff(request.user)


class IsFleetStaffOrReadOnly(BasePermission):
    """Any signed-in user may read; only fleet staff may write."""

    message = "Only fleet staff may change fleet resources."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False
        return request.method in SAFE_METHODS or is_fleet_staff(request.user)
