"""Receivers for the module's own models and the platform's: allowed."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from boundary_fixtures.orm.fixture_clean.models import Account


@receiver(post_save, sender=Account, dispatch_uid="clean-account-saved")
def account_saved(sender: Any, **kwargs: Any) -> None:
    return None


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="clean-user-saved")
def user_saved(sender: Any, **kwargs: Any) -> None:
    return None


@receiver(post_save, dispatch_uid="clean-anything-saved")
def anything_saved(sender: Any, **kwargs: Any) -> None:
    return None


def account_deleted(sender: Any, **kwargs: Any) -> None:
    return None
