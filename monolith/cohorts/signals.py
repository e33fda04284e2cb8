"""Keep routing honest when flags or targeted groups change outside the cohort service.

- A routing flag's users and groups change only inside the audited service (as its fields do:
  ``models.routing_change_check``).
- Joining or leaving a group a cohort targets changes the cohort: announced once committed.
- A group a cohort targets cannot be deleted: take it out of the cohort first (audited).
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import router, transaction
from django.db.models.signals import m2m_changed, pre_delete
from django.dispatch import receiver

from monolith.cohorts.errors import RoutingForbidden
from monolith.cohorts.models import RoutingFlag, routing_change_check
from monolith.cohorts.rules import ROUTE_PREFIX
from monolith.cohorts.snapshot import routing_changed

_TARGETS = RoutingFlag.groups.through._default_manager


@receiver(m2m_changed, sender=RoutingFlag.users.through, dispatch_uid="cohorts-flag-users")
@receiver(m2m_changed, sender=RoutingFlag.groups.through, dispatch_uid="cohorts-flag-groups")
def _flag_targets_changing(
    sender: Any, instance: Any, action: str, pk_set: set[Any] | None, **_: Any
) -> None:
    if not action.startswith("pre_"):
        return
    if isinstance(instance, RoutingFlag):
        routing_change_check(instance.name)
        return
    # Changed from the other side (user.routingflag_set.add(flag)).
    flags = RoutingFlag.objects.filter(name__startswith=ROUTE_PREFIX)
    if pk_set is not None:
        flags = flags.filter(pk__in=pk_set)
    else:
        flags = flags.filter(pk__in=instance.routingflag_set.values("pk"))
    for name in flags.values_list("name", flat=True):
        routing_change_check(name)


def _targeted(group_ids: set[Any]) -> bool:
    return _TARGETS.filter(
        group_id__in=group_ids, routingflag__name__startswith=ROUTE_PREFIX
    ).exists()


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="cohorts-membership")
def _membership_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **_: Any
) -> None:
    if action == "pre_clear":
        # After the clear nobody can tell which groups were involved: note them now.
        instance._cohort_cleared_groups = (
            {instance.pk} if reverse else set(instance.groups.values_list("pk", flat=True))
        )
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    group_ids: set[Any]
    if action == "post_clear":
        group_ids = getattr(instance, "_cohort_cleared_groups", set())
    else:
        group_ids = {instance.pk} if reverse else set(pk_set or ())
    if group_ids and _targeted(group_ids):
        transaction.on_commit(routing_changed, using=router.db_for_write(sender))


@receiver(pre_delete, sender=Group, dispatch_uid="cohorts-group-delete")
def _targeted_group_deleting(sender: Any, instance: Group, **_: Any) -> None:
    names = list(
        _TARGETS.filter(group_id=instance.pk, routingflag__name__startswith=ROUTE_PREFIX)
        .values_list("routingflag__name", flat=True)
        .order_by("routingflag__name")
    )
    if names:
        modules = ", ".join(name.removeprefix(ROUTE_PREFIX) for name in names)
        raise RoutingForbidden(
            f"group {instance.name!r} is in the cohort of {modules}: remove it there first "
            f"(manage.py cohort route <module> --remove-group {instance.name!r} ...)."
        )
