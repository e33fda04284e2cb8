"""The users module in the Django admin.

Profiles are edited here; money is not. Wallets, holds and ledger entries are read-only, and
every change of credit goes through an action that calls a service, so the admin writes the
same ledger entries as the API. A wrong entry is corrected by a new one, never edited.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from modules.users import selectors, services
from modules.users.models import CreditHold, LedgerEntry, Rider, StaffProfile, Wallet
from monolith.platform.access import is_fleet_staff
from monolith.platform.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline
from monolith.platform.errors import FleetError

GOODWILL_AMOUNT = Decimal("10.00")
GOODWILL_MEMO = "Goodwill credit granted in the admin."
# A wallet page shows this many recent entries; the ledger list has the rest.
INLINE_LEDGER_ENTRIES = 50


class CreditAdjustingAdmin(admin.ModelAdmin):
    """Admin whose actions move credit: only fleet staff (or superusers) may run them."""

    def has_adjust_credit_permission(self, request: HttpRequest) -> bool:
        return is_fleet_staff(request.user)

    def _grant_goodwill(self, request: HttpRequest, rider_ids: Iterable[UUID]) -> None:
        granted, failures = 0, []
        for rider_id in rider_ids:
            try:
                services.wallet_adjust(
                    rider_id=rider_id,
                    amount=GOODWILL_AMOUNT,
                    memo=GOODWILL_MEMO,
                    created_by=request.user,
                )
            except FleetError as exc:
                failures.append(f"{rider_id}: {exc.message}")
            else:
                granted += 1
        if granted:
            self.message_user(
                request,
                f"Granted {GOODWILL_AMOUNT} goodwill credit to {granted} rider(s).",
                messages.SUCCESS,
            )
        if failures:
            self.message_user(request, "Not granted: " + "; ".join(failures), messages.ERROR)


@admin.register(Rider)
class RiderAdmin(CreditAdjustingAdmin):
    list_display = (
        "display_name",
        "username",
        "email",
        "home_city",
        "preferred_language",
        "is_active",
        "available_credit",
        "created_at",
    )
    list_select_related = ("user", "wallet")
    list_filter = (
        "preferred_language",
        "user__is_active",
        "wheelchair_accessible",
        "marketing_opt_in",
        "created_at",
    )
    search_fields = ("display_name", "user__username", "user__email", "phone", "home_city")
    ordering = ("-created_at",)
    readonly_fields = ("user", "available_credit", "held_credit", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("user", "display_name", "phone", "preferred_language", "home_city")}),
        (
            "Preferences",
            {
                "fields": (
                    "notify_by_email",
                    "notify_by_sms",
                    "notify_by_push",
                    "wheelchair_accessible",
                    "quiet_ride",
                    "marketing_opt_in",
                )
            },
        ),
        ("Credit", {"fields": ("available_credit", "held_credit")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("grant_goodwill_credit",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Riders sign up through the API; accounts given the rider role get a profile on use.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="username", ordering="user__username")
    def username(self, rider: Rider) -> str:
        return rider.user.username

    @admin.display(description="email", ordering="user__email")
    def email(self, rider: Rider) -> str:
        return rider.user.email

    @admin.display(description="active", boolean=True, ordering="user__is_active")
    def is_active(self, rider: Rider) -> bool:
        return rider.user.is_active

    @admin.display(description="available credit")
    def available_credit(self, rider: Rider) -> str:
        wallet = selectors.rider_wallet(rider=rider)
        return "—" if wallet is None else f"{wallet.available} {wallet.currency}"

    @admin.display(description="held credit")
    def held_credit(self, rider: Rider) -> str:
        wallet = selectors.rider_wallet(rider=rider)
        return "—" if wallet is None else f"{wallet.held} {wallet.currency}"

    @admin.action(
        description=f"Grant {GOODWILL_AMOUNT} goodwill credit", permissions=["adjust_credit"]
    )
    def grant_goodwill_credit(self, request: HttpRequest, queryset: QuerySet[Rider]) -> None:
        self._grant_goodwill(request, queryset.values_list("user_id", flat=True))


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("employee_number", "user", "job_title", "depot", "created_at")
    list_select_related = ("user",)
    list_filter = ("depot", "job_title")
    search_fields = ("employee_number", "user__username", "user__email", "depot", "job_title")
    autocomplete_fields = ("user",)
    ordering = ("employee_number",)
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The account is the profile's primary key: pick it once, when adding.
        fields = tuple(super().get_readonly_fields(request, obj))
        return ("user", *fields) if obj is not None else fields


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    fk_name = "wallet"
    verbose_name_plural = f"ledger entries (latest {INLINE_LEDGER_ENTRIES})"
    fields = (
        "sequence",
        "kind",
        "amount",
        "available_after",
        "held_after",
        "reference",
        "memo",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    ordering = ("-sequence",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
        queryset = super().get_queryset(request).select_related("created_by")
        match = request.resolver_match
        wallet_id = match.kwargs.get("object_id") if match else None
        if wallet_id is None:
            return queryset
        latest = (
            LedgerEntry.objects.filter(wallet_id=wallet_id)
            .order_by("-sequence")
            .values_list("pk", flat=True)[:INLINE_LEDGER_ENTRIES]
        )
        return queryset.filter(pk__in=list(latest))


class CreditHoldInline(ReadOnlyTabularInline):
    model = CreditHold
    fields = ("reference", "amount", "captured_amount", "status", "created_at", "settled_at")
    readonly_fields = fields
    ordering = ("-created_at",)


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdminMixin, CreditAdjustingAdmin):
    list_display = ("rider", "available", "held", "currency", "ledger_sequence", "updated_at")
    list_select_related = ("rider",)
    list_filter = ("currency", "updated_at")
    search_fields = ("rider__display_name", "rider__user__username", "rider__user__email")
    ordering = ("-updated_at",)
    readonly_fields = (
        "id",
        "rider",
        "currency",
        "available",
        "held",
        "ledger_sequence",
        "full_ledger",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    inlines = (CreditHoldInline, LedgerEntryInline)
    actions = ("grant_goodwill_credit",)

    @admin.display(description="ledger")
    def full_ledger(self, wallet: Wallet) -> SafeString:
        url = reverse("admin:users_ledgerentry_changelist") + f"?wallet__id__exact={wallet.pk}"
        return format_html('<a href="{}">All {} entries</a>', url, wallet.ledger_sequence)

    @admin.action(
        description=f"Grant {GOODWILL_AMOUNT} goodwill credit", permissions=["adjust_credit"]
    )
    def grant_goodwill_credit(self, request: HttpRequest, queryset: QuerySet[Wallet]) -> None:
        self._grant_goodwill(request, queryset.values_list("rider_id", flat=True))


@admin.register(CreditHold)
class CreditHoldAdmin(ReadOnlyAdminMixin, CreditAdjustingAdmin):
    list_display = (
        "reference",
        "wallet",
        "amount",
        "captured_amount",
        "status",
        "created_at",
        "settled_at",
    )
    list_select_related = ("wallet__rider",)
    list_filter = ("status", "created_at")
    search_fields = ("reference", "wallet__rider__user__username", "wallet__rider__display_name")
    ordering = ("-created_at",)
    readonly_fields = (
        "id",
        "wallet",
        "reference",
        "amount",
        "captured_amount",
        "status",
        "created_at",
        "settled_at",
    )
    fields = readonly_fields
    actions = ("release_holds",)

    @admin.action(description="Release selected holds", permissions=["adjust_credit"])
    def release_holds(self, request: HttpRequest, queryset: QuerySet[CreditHold]) -> None:
        released, unchanged, failures = 0, 0, []
        for hold in queryset:
            if hold.status == CreditHold.Status.RELEASED:
                unchanged += 1
                continue
            try:
                services.credit_hold_release(hold_id=hold.pk)
            except FleetError as exc:
                failures.append(exc.message)
            else:
                released += 1
        if released:
            self.message_user(request, f"Released {released} hold(s).", messages.SUCCESS)
        if unchanged:
            self.message_user(request, f"{unchanged} hold(s) were already released.", messages.INFO)
        if failures:
            self.message_user(request, "Not released: " + " ".join(failures), messages.ERROR)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, CreditAdjustingAdmin):
    list_display = (
        "created_at",
        "wallet",
        "sequence",
        "kind",
        "amount",
        "available_after",
        "held_after",
        "reference",
        "created_by",
    )
    list_select_related = ("wallet__rider", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("reference", "memo", "wallet__rider__user__username")
    ordering = ("-created_at", "-sequence")
    readonly_fields = (
        "id",
        "wallet",
        "sequence",
        "kind",
        "amount",
        "available_after",
        "held_after",
        "hold",
        "reference",
        "memo",
        "created_by",
        "created_at",
    )
    fields = readonly_fields
