"""Keep the edge's remembered credentials honest (``monolith.platform.edge.credentials``).

Whatever revokes a token or changes what the edge forwards for it is announced to every
process once committed: a token deleted (signing out, rotation, its user deleted), a user with
a token saved other than for the last sign-in time (deactivated, for one), a group membership
of a user with a token added, removed or cleared (from either side), a group renamed or
deleted (its members lose the role). A user without a token has nothing remembered.
"""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import router, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from monolith.platform.edge.credentials import credentials_changed

User = get_user_model()
# The fields a save can change that the edge does not keep.
_NOT_KEPT = frozenset({"last_login", "password"})


def _announce_on_commit(sender: Any) -> None:
    transaction.on_commit(credentials_changed, using=router.db_for_write(sender))


def _any_token(user_ids: Iterable[Any]) -> bool:
    return Token.objects.filter(user_id__in=list(user_ids)).exists()


@receiver(post_delete, sender=Token, dispatch_uid="accounts-edge-token-deleted")
@receiver(post_delete, sender=Group, dispatch_uid="accounts-edge-group-deleted")
def _deleted(sender: Any, **_: Any) -> None:
    _announce_on_commit(sender)


@receiver(post_save, sender=Group, dispatch_uid="accounts-edge-group-saved")
def _group_saved(sender: Any, created: bool, **_: Any) -> None:
    if not created:  # a new group has no members yet
        _announce_on_commit(sender)


@receiver(post_save, sender=User, dispatch_uid="accounts-edge-user-saved")
def _user_saved(
    sender: Any, instance: Any, created: bool, update_fields: frozenset[str] | None = None, **_: Any
) -> None:
    if created or (update_fields is not None and update_fields <= _NOT_KEPT):
        return
    if _any_token([instance.pk]):
        _announce_on_commit(sender)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="accounts-edge-membership")
def _membership_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **_: Any
) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    # From a group's side the users are the changed keys, unknown once its members are cleared.
    if not reverse:
        members: Iterable[Any] | None = [instance.pk]
    else:
        members = pk_set
    if members is None or _any_token(members):
        _announce_on_commit(sender)
