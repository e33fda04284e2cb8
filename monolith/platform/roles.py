"""The role groups and what each may do in the admin, kept in step after every migrate."""

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from monolith.platform.access import Role
from monolith.platform.registry import fleet_modules

# Staff run the fleet: every permission the fleet modules define (their custom ones such as
# refunds included) except deleting, which stays with superusers. Records that are never edited
# (ledger, invoices) refuse changes in their own admin whatever the permission says.


def roles_ensure(**_: Any) -> None:
    """Create the role groups and grant fleet staff the fleet modules' permissions."""
    groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}
    fleet_labels = [config.label for config in fleet_modules()]
    staff_permissions = Permission.objects.filter(
        Q(content_type__app_label__in=fleet_labels) & ~Q(codename__startswith="delete_")
    ) | Permission.objects.filter(content_type__app_label="accounts", codename="view_user")
    groups[Role.FLEET_STAFF].permissions.set(staff_permissions)
    # The migration team reads routing's audit trail and shadow comparisons, and how far each
    # feed between deployables has been read; changing routing is granted by membership itself
    # (monolith.cohorts.services), not by a model permission.
    groups[Role.MIGRATION_TEAM].permissions.set(
        Permission.objects.filter(content_type__app_label="cohorts", codename__startswith="view_")
        | Permission.objects.filter(
            content_type__app_label="platform", codename="view_feedposition"
        )
    )
