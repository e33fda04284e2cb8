"""Admin building blocks shared by the modules: records that are never edited."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


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
