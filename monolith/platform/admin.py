"""Admin building blocks shared by the modules: records that are never edited."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.http import HttpRequest

from monolith.platform.models import FeedPosition


class ReadOnlyAdminMixin:
    """For records corrected only by new records (ledger entries, invoices, payments, history).

    Staff may look but not add, change or delete; actions that call services still work,
    because changing a record through a service is not an admin edit.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A read-only table of child records on a parent's page."""

    extra = 0
    can_delete = False
    show_change_link = True


# The attribute on a shown record that carries the usernames of its page's accounts.
_NAMES = "_account_usernames"


def account_usernames_attach(rows: Iterable[Model], fields: Iterable[str]) -> None:
    """Look up, in one query, the usernames of the accounts that ``fields`` of ``rows`` hold.

    Modules keep account ids, not foreign keys (their tables may live on another database),
    so an admin page resolves the names of its rows' accounts once per page.
    """
    rows = list(rows)
    fields = list(fields)
    wanted = {getattr(row, field) for row in rows for field in fields} - {None}
    names: dict[UUID, str] = {}
    if wanted:
        names = dict(get_user_model().objects.filter(pk__in=wanted).values_list("pk", "username"))
    for row in rows:
        setattr(row, _NAMES, names)


def account_username(row: Model, field: str) -> str:
    """The username of the account ``row.<field>`` holds; the id of one that was deleted."""
    account_id = getattr(row, field)
    if account_id is None:
        return "—"
    if not hasattr(row, _NAMES):
        # A record shown alone (its own page): one lookup for it.
        account_usernames_attach([row], [field])
    return str(getattr(row, _NAMES).get(account_id, account_id))


class AccountNamesAdmin(admin.ModelAdmin):
    """Usernames for the account ids in ``account_fields``: one lookup per changelist page."""

    account_fields: tuple[str, ...] = ()

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        # The page's rows are fetched here and reused by the template.
        account_usernames_attach(changelist.result_list, self.account_fields)
        return changelist


class ParkedDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A module's parked event deliveries: what failed, why, and a retry once it is fixed."""

    list_display = (
        "event_name",
        "event_id",
        "publisher",
        "subscriber",
        "attempts",
        "last_error",
        "parked_at",
        "retried_at",
    )
    list_filter = ("event_name", "publisher", "parked_at", "retried_at")
    search_fields = ("event_id", "event_name", "last_error")
    readonly_fields = (*list_display, "payload")
    actions = ("deliveries_retry",)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.model._meta.app_label}.retry_parkeddelivery")

    @admin.action(description="Retry selected deliveries", permissions=["retry"])
    def deliveries_retry(self, request: HttpRequest, queryset: Any) -> None:
        from monolith.platform.outbox.machinery import parked_deliveries_retry

        count = parked_deliveries_retry(self.model._meta.app_label, queryset)
        self.message_user(request, f"{count} deliveries sent again.")


@admin.register(FeedPosition)
class FeedPositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """How far this deployable has read each other deployable's outbox feed, and when: a
    place that stops moving while the other side writes means its events and row changes are
    not arriving (``manage.py events pull`` says why)."""

    list_display = ("publisher", "source", "position", "pulled_at", "received", "applied")
    list_filter = ("publisher",)
    readonly_fields = list_display
