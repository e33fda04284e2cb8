"""The users module in the Django admin.

Profiles are edited here; money is not. Wallets, holds and ledger entries are read-only, and
every change of credit goes through an action that calls a service, so the admin writes the
same ledger entries as the API. A wrong entry is corrected by a new one, never edited.

Profiles hold account ids, not relations: the accounts are the platform's and may live in
another database. Usernames and emails are read for a whole page at once, and searching by
them first finds the matching account ids.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from modules.users import selectors, services
from modules.users.accounts import (
    Account,
    account_find_by_username,
    account_ids_inactive,
    account_ids_matching,
    accounts_by_id,
)
from modules.users.models import CreditHold, LedgerEntry, Rider, StaffProfile, Wallet
from monolith.platform.access import is_fleet_staff
from monolith.platform.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline
from monolith.platform.errors import FleetError

GOODWILL_AMOUNT = Decimal("10.00")
GOODWILL_MEMO = "Goodwill credit granted in the admin."
# A wallet page shows this many recent entries; the ledger list has the rest.
INLINE_LEDGER_ENTRIES = 50

# The attribute on a shown record that carries the accounts of its page.
_ACCOUNTS = "_page_accounts"


def _accounts_attach(rows: Iterable[Model], field: str) -> None:
    """Read the accounts whose ids ``field`` of ``rows`` holds, in one query."""
    rows = list(rows)
    accounts = accounts_by_id(getattr(row, field) for row in rows)
    for row in rows:
        setattr(row, _ACCOUNTS, accounts)


def _account(row: Model, field: str) -> Account | None:
    """The account ``row.<field>`` names (None for none); a deleted one counts as missing."""
    account_id: UUID | None = getattr(row, field)
    if account_id is None:
        return None
    if not hasattr(row, _ACCOUNTS):
        # A record shown alone (its own page): one lookup for it.
        _accounts_attach([row], field)
    return getattr(row, _ACCOUNTS).get(account_id) or Account.missing(account_id)


def _username(row: Model, field: str) -> str:
    account = _account(row, field)
    return "—" if account is None else account.username or f"deleted account {account.id}"


class AccountColumnsAdmin(admin.ModelAdmin):
    """Shows the accounts behind ``account_field`` and searches by their username or email.

    ``account_field`` is read for every row of a changelist page in one query;
    ``account_search_path`` is the lookup, from this model, of the account id a search term
    may name by username or email.
    """

    account_field = ""
    account_search_path = ""

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if self.account_field:
            # The page's rows are fetched here and reused by the template.
            _accounts_attach(changelist.result_list, self.account_field)
        return changelist

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term and self.account_search_path:
            account_ids = account_ids_matching(term)
            if account_ids:
                found |= queryset.filter(**{f"{self.account_search_path}__in": account_ids})
        return found, may_have_duplicates


class CreditAdjustingAdmin(AccountColumnsAdmin):
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


class AccountActiveFilter(admin.SimpleListFilter):
    """Whether the rider's account is active (read from the accounts, then filtered by id)."""

    title = "account active"
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in {"yes", "no"}:
            return queryset
        inactive = account_ids_inactive()
        if self.value() == "yes":
            return queryset.exclude(id__in=inactive)
        return queryset.filter(id__in=inactive)


def _account_link(account: Account | None) -> str:
    if account is None:
        return "—"
    if not account.username:
        return f"deleted account {account.id}"
    url = reverse("admin:accounts_user_change", args=[account.id])
    return format_html('<a href="{}">{}</a>', url, account.username)


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
    list_select_related = ("wallet",)
    list_filter = (
        "preferred_language",
        AccountActiveFilter,
        "wheelchair_accessible",
        "marketing_opt_in",
        "created_at",
    )
    # The account's username and email are searched too (AccountColumnsAdmin).
    search_fields = ("display_name", "phone", "home_city")
    account_field = "id"
    account_search_path = "id"
    ordering = ("-created_at",)
    readonly_fields = ("account", "available_credit", "held_credit", "created_at", "updated_at")
    fieldsets = (
        (
            None,
            {"fields": ("account", "display_name", "phone", "preferred_language", "home_city")},
        ),
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

    @admin.display(description="account")
    def account(self, rider: Rider) -> str:
        return _account_link(_account(rider, "id"))

    @admin.display(description="username")
    def username(self, rider: Rider) -> str:
        return _username(rider, "id")

    @admin.display(description="email")
    def email(self, rider: Rider) -> str:
        account = _account(rider, "id")
        return account.email if account is not None else ""

    @admin.display(description="active", boolean=True)
    def is_active(self, rider: Rider) -> bool:
        account = _account(rider, "id")
        return account is not None and account.is_active

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
        self._grant_goodwill(request, queryset.values_list("id", flat=True))


class StaffProfileAddForm(forms.ModelForm):
    """A new profile names its account by username; the profile takes the account's id."""

    username = forms.CharField(
        label="account", max_length=150, help_text="The username of the member's account."
    )

    class Meta:
        model = StaffProfile
        fields = ("employee_number", "depot", "job_title")

    def clean_username(self) -> str:
        account = account_find_by_username(self.cleaned_data["username"].strip())
        if account is None:
            raise forms.ValidationError("No account has this username.")
        if StaffProfile.objects.filter(id=account.id).exists():
            raise forms.ValidationError("This account has a staff profile already.")
        self.instance.id = account.id
        return account.username


@admin.register(StaffProfile)
class StaffProfileAdmin(AccountColumnsAdmin):
    list_display = ("employee_number", "username", "job_title", "depot", "created_at")
    list_filter = ("depot", "job_title")
    # The account's username and email are searched too (AccountColumnsAdmin).
    search_fields = ("employee_number", "depot", "job_title")
    account_field = "id"
    account_search_path = "id"
    ordering = ("employee_number",)
    readonly_fields = ("account", "created_at", "updated_at")
    add_form = StaffProfileAddForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("username", "employee_number", "depot", "job_title")
        # The account is the profile's key: picked once, when adding.
        return ("account", "employee_number", "depot", "job_title", "created_at", "updated_at")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="account")
    def account(self, profile: StaffProfile) -> str:
        return _account_link(_account(profile, "id"))

    @admin.display(description="username")
    def username(self, profile: StaffProfile) -> str:
        return _username(profile, "id")


class _LedgerEntryFormSet(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet[LedgerEntry]:
        entries: QuerySet[LedgerEntry] = super().get_queryset()
        if not hasattr(self, "_accounts_attached"):
            _accounts_attach(entries, "created_by_id")
            self._accounts_attached = True
        return entries


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    fk_name = "wallet"
    formset = _LedgerEntryFormSet
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
        queryset = super().get_queryset(request)
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

    @admin.display(description="created by")
    def created_by(self, entry: LedgerEntry) -> str:
        return _username(entry, "created_by_id")


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
    # The rider's username and email are searched too (AccountColumnsAdmin).
    search_fields = ("rider__display_name",)
    account_search_path = "rider_id"
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
    # The rider's username and email are searched too (AccountColumnsAdmin).
    search_fields = ("reference", "wallet__rider__display_name")
    account_search_path = "wallet__rider_id"
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
    list_select_related = ("wallet__rider",)
    list_filter = ("kind", "created_at")
    # The rider's username and email are searched too (AccountColumnsAdmin).
    search_fields = ("reference", "memo", "wallet__rider__display_name")
    account_field = "created_by_id"
    account_search_path = "wallet__rider_id"
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

    @admin.display(description="created by")
    def created_by(self, entry: LedgerEntry) -> str:
        return _username(entry, "created_by_id")
