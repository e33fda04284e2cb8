"""Routing flags (django-waffle's flag model here) and the audit of every routing change."""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from waffle.models import AbstractUserFlag

from monolith.cohorts.errors import RoutingForbidden
from monolith.cohorts.rules import ROUTE_PREFIX

# Set while a routing change is being made through services.cohort_change, which audits it.
_change_open: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "cohort_change_open", default=False
)

REFUSED = (
    "routing flags change only through `manage.py cohort` or the admin's cohort routing page, "
    "which check who may and record why"
)


@contextmanager
def routing_change_opened() -> Iterator[None]:
    """Allow writes to routing flags inside the block (the audited service uses it)."""
    token = _change_open.set(True)
    try:
        yield
    finally:
        _change_open.reset(token)


def routing_change_check(flag_name: str) -> None:
    """Refuse a write to a routing flag made outside the audited service."""
    if flag_name.startswith(ROUTE_PREFIX) and not _change_open.get():
        raise RoutingForbidden(f"{flag_name}: {REFUSED}.")


class RoutingFlag(AbstractUserFlag):
    """django-waffle's flag model in this project (``WAFFLE_FLAG_MODEL``).

    ``route.<module>`` decides, per account, whether the module's extracted service serves it.
    Targets: everyone (on), nobody (off), or a cohort of named users, groups' members and a
    sticky percentage (``rules.cohort_bucket``: a hash of the account id, never a cookie).
    waffle's other targets (superusers, staff, languages, testing, rollout) are removed: a
    routing decision must not depend on a cookie or on who happens to be staff.
    """

    testing = None  # type: ignore[assignment]
    superusers = None  # type: ignore[assignment]
    staff = None  # type: ignore[assignment]
    authenticated = None  # type: ignore[assignment]
    languages = None  # type: ignore[assignment]
    rollout = None  # type: ignore[assignment]

    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Share of accounts in the cohort, 0 to 100, sticky by account id.",
    )
    shadow = models.BooleanField(
        default=False,
        help_text="Shadow mode: the monolith serves; reads are also sent to the service and "
        "the two answers compared.",
    )

    class Meta(AbstractUserFlag.Meta):
        verbose_name = _("routing flag")
        verbose_name_plural = _("cohort routing")

    def save(self, *args: Any, **kwargs: Any) -> None:
        routing_change_check(self.name)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        routing_change_check(self.name)
        return super().delete(*args, **kwargs)

    def is_active_for_user(self, user: AbstractBaseUser | AnonymousUser) -> bool | None:
        """waffle's question, answered by the routing rule: is the user in the cohort?"""
        from monolith.cohorts.snapshot import rules_load

        rule = rules_load(names=[self.name]).get(self.name)
        if rule is None:
            return bool(self.everyone)
        account_id = user.pk if getattr(user, "is_authenticated", False) else None
        return rule.place(account_id)[0]

    def is_active(self, request: HttpRequest, read_only: bool = False) -> bool | None:
        """Sticky by account: waffle's cookie-kept random draw is never used."""
        if not self.pk:
            return super().is_active(request, read_only)
        return self.is_active_for_user(getattr(request, "user", None) or AnonymousUser())


class RoutingChange(models.Model):
    """One change to a module's routing: who, when, before and after, and why. Never edited."""

    module = models.CharField(max_length=100, db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too: the record outlives the account.
    changed_by_username = models.CharField(max_length=150)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    before = models.JSONField()
    after = models.JSONField()
    reason = models.TextField()

    class Meta:
        ordering = ("-changed_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reason=""), name="cohorts_routingchange_reason_given"
            )
        ]

    def __str__(self) -> str:
        return f"{self.module} by {self.changed_by_username} at {self.changed_at:%Y-%m-%d %H:%M}"


class ShadowMismatch(models.Model):
    """A read whose answer from the module's service differed from the monolith's, in shadow
    mode (the monolith's answer is the one the caller got). Never edited; pruned by age."""

    module = models.CharField(max_length=100)
    method = models.CharField(max_length=10)
    # The path and query as the caller sent them, and the URL pattern they matched (to filter).
    path = models.TextField()
    route = models.CharField(max_length=300, blank=True)
    # The account the read acted for (None: anonymous). An id, not a key: it outlives it.
    account_id = models.UUIDField(null=True, blank=True)
    monolith_status = models.PositiveSmallIntegerField()
    service_status = models.PositiveSmallIntegerField()
    # The fields that differ ("results[0].status, count"), and the whole difference to read.
    differing = models.TextField(blank=True)
    diff = models.TextField()
    request_id = models.CharField(max_length=100, blank=True, db_index=True)
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-recorded_at", "-id")
        verbose_name = _("shadow mismatch")
        verbose_name_plural = _("shadow mismatches")
        indexes = [
            models.Index(fields=["module", "-recorded_at"], name="cohorts_shadow_module_idx")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.monolith_status} vs {self.service_status}"
