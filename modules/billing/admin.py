"""Billing in the Django admin.

Tariffs and payment methods are edited through the same services the API uses. Invoices,
payments, refunds, credit purchases and the sandbox's records are read-only: they change only
through the actions below, which call services.

Who refunded is an account id (accounts are the platform's and may live in another database);
the pages show the username, looked up once per page.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from modules.billing import services
from modules.billing.models import (
    CreditPurchase,
    Invoice,
    InvoiceLine,
    ParkedDelivery,
    Payment,
    PaymentMethod,
    Refund,
    SandboxCharge,
    SandboxRefund,
    Tariff,
)
from monolith.platform.admin import (
    ParkedDeliveryAdmin,
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    account_username,
    account_usernames_attach,
)
from monolith.platform.errors import FleetError


def _all_fields(model: Any) -> list[str]:
    return [field.name for field in model._meta.fields]


# Tariffs ------------------------------------------------------------------------------------


class TariffAdminForm(forms.ModelForm):
    class Meta:
        model = Tariff
        fields = [
            "name",
            "base_fare",
            "per_km",
            "per_minute",
            "minimum_fare",
            "effective_from",
            "effective_to",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            if self.instance._state.adding:
                services.tariff_validate(**cleaned)
            else:
                services.tariff_update_validate(
                    tariff=self.instance,
                    data={field: cleaned[field] for field in self.changed_data},
                )
        except FleetError as exc:
            self.add_error(exc.field, exc.message)
        return cleaned


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    form = TariffAdminForm
    list_display = [
        "name",
        "currency",
        "base_fare",
        "per_km",
        "per_minute",
        "minimum_fare",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["currency", "effective_from", "effective_to"]
    search_fields = ["name"]
    ordering = ["-effective_from"]
    date_hierarchy = "effective_from"
    readonly_fields = ["id", "currency", "created_at", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Tariff | None = None) -> bool:
        # Invoices keep pointing at the prices they were computed with.
        if obj is not None and obj.invoices.exists():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Tariff, form: Any, change: bool) -> None:
        if change:
            services.tariff_update(
                tariff_id=obj.pk,
                data={field: form.cleaned_data[field] for field in form.changed_data},
            )
        else:
            created = services.tariff_create(**form.cleaned_data)
            # The admin logs and redirects to the object it was handed.
            obj.pk = created.pk
        obj.refresh_from_db()


# Invoices -----------------------------------------------------------------------------------


LINE_COLUMNS = (
    "position",
    "description",
    "quantity",
    "unit_price",
    "amount",
)


class InvoiceLineInline(ReadOnlyTabularInline):
    model = InvoiceLine
    fields = LINE_COLUMNS
    readonly_fields = LINE_COLUMNS
    show_change_link = False


PAYMENT_COLUMNS = (
    "attempt",
    "source",
    "status",
    "amount",
    "failure_code",
    "gateway_charge_id",
    "created_at",
)


class PaymentInline(ReadOnlyTabularInline):
    model = Payment
    fields = PAYMENT_COLUMNS
    readonly_fields = PAYMENT_COLUMNS


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["number", "status", "total", "currency", "rider_id", "trip_id", "issued_at"]
    list_filter = ["status", "currency", "issued_at"]
    search_fields = ["number", "trip_id", "rider_id"]
    ordering = ["-issued_at", "-number"]
    date_hierarchy = "issued_at"
    list_select_related = ["tariff"]
    readonly_fields = _all_fields(Invoice)
    inlines = [InvoiceLineInline, PaymentInline]
    actions = ["retry_payment", "void"]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.operate_invoice")

    @admin.action(description="Retry payment", permissions=["operate"])
    def retry_payment(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        paid, failed, problems = [], [], []
        for invoice in queryset.order_by("number"):
            try:
                payment = services.invoice_collect_payment(invoice_id=invoice.id)
            except FleetError as exc:
                problems.append(f"{invoice.number}: {exc.message}")
                continue
            if payment.status == Payment.Status.SUCCEEDED:
                paid.append(invoice.number)
            else:
                failed.append(f"{invoice.number} ({payment.failure_code})")
        if paid:
            self.message_user(request, f"Paid: {', '.join(paid)}.", messages.SUCCESS)
        if failed:
            self.message_user(request, f"Payment failed: {', '.join(failed)}.", messages.WARNING)
        for problem in problems:
            self.message_user(request, f"Not retried: {problem}", messages.ERROR)

    @admin.action(description="Void", permissions=["operate"])
    def void(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        voided, problems = [], []
        for invoice in queryset.order_by("number"):
            try:
                services.invoice_void(invoice_id=invoice.id)
            except FleetError as exc:
                problems.append(f"{invoice.number}: {exc.message}")
                continue
            voided.append(invoice.number)
        if voided:
            self.message_user(request, f"Voided: {', '.join(voided)}.", messages.SUCCESS)
        for problem in problems:
            self.message_user(request, f"Not voided: {problem}", messages.ERROR)


# Payments and refunds -----------------------------------------------------------------------


REFUND_COLUMNS = (
    "amount",
    "reason",
    "status",
    "gateway_refund_id",
    "created_by",
    "created_at",
)


class _RefundFormSet(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet[Refund]:
        refunds: QuerySet[Refund] = super().get_queryset()
        if not hasattr(self, "_names_attached"):
            account_usernames_attach(refunds, ["created_by_id"])
            self._names_attached = True
        return refunds


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    formset = _RefundFormSet
    fields = REFUND_COLUMNS
    readonly_fields = REFUND_COLUMNS

    @admin.display(description="created by")
    def created_by(self, refund: Refund) -> str:
        return account_username(refund, "created_by_id")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "invoice",
        "attempt",
        "source",
        "status",
        "amount",
        "currency",
        "failure_code",
        "created_at",
    ]
    list_filter = ["source", "status", "failure_code", "created_at"]
    search_fields = ["invoice__number", "gateway_charge_id", "idempotency_key"]
    ordering = ["-created_at"]
    list_select_related = ["invoice"]
    readonly_fields = _all_fields(Payment)
    inlines = [RefundInline]
    actions = ["refund_in_full"]

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.refund_payment")

    @admin.action(description="Refund in full", permissions=["refund"])
    def refund_in_full(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        refunded, problems = [], []
        for payment in queryset.select_related("invoice").order_by("created_at"):
            try:
                refund = services.payment_refund(
                    payment_id=payment.id,
                    amount=None,
                    reason="Refunded in full by fleet staff from the admin.",
                    by_id=request.user.pk,
                )
            except FleetError as exc:
                problems.append(f"{payment.invoice.number}: {exc.message}")
                continue
            refunded.append(f"{payment.invoice.number} ({refund.amount} {payment.currency})")
        if refunded:
            self.message_user(request, f"Refunded: {', '.join(refunded)}.", messages.SUCCESS)
        for problem in problems:
            self.message_user(request, f"Not refunded: {problem}", messages.ERROR)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["payment", "amount", "status", "reason", "created_by", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["payment__invoice__number", "gateway_refund_id", "reason"]
    ordering = ["-created_at"]
    list_select_related = ["payment__invoice"]
    readonly_fields = tuple(
        "created_by" if name == "created_by_id" else name for name in _all_fields(Refund)
    )
    fields = readonly_fields

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        # The page's rows are fetched here and reused by the template.
        account_usernames_attach(changelist.result_list, ["created_by_id"])
        return changelist

    @admin.display(description="created by")
    def created_by(self, refund: Refund) -> str:
        return account_username(refund, "created_by_id")


# Credit purchases ---------------------------------------------------------------------------


@admin.register(CreditPurchase)
class CreditPurchaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "rider_id", "amount", "currency", "status", "failure_code", "created_at"]
    list_filter = ["status", "failure_code", "created_at"]
    search_fields = ["id", "rider_id", "idempotency_key", "gateway_charge_id"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    readonly_fields = _all_fields(CreditPurchase)
    actions = ["settle"]

    def has_settle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.settle_creditpurchase")

    @admin.action(description="Credit the wallet for charged purchases", permissions=["settle"])
    def settle(self, request: HttpRequest, queryset: QuerySet[CreditPurchase]) -> None:
        credited, skipped, problems = [], [], []
        for purchase in queryset.order_by("created_at"):
            try:
                settled = services.credit_purchase_settle(purchase_id=purchase.id)
            except FleetError as exc:
                problems.append(f"{purchase.id}: {exc.message}")
                continue
            if purchase.status == CreditPurchase.Status.CHARGED:
                credited.append(f"{settled.id} ({settled.amount} {settled.currency})")
            else:
                skipped.append(f"{purchase.id} ({purchase.status})")
        if credited:
            self.message_user(request, f"Credited: {', '.join(credited)}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Nothing to credit: {', '.join(skipped)}.", messages.WARNING
            )
        for problem in problems:
            self.message_user(request, f"Not credited: {problem}", messages.ERROR)


# Payment methods ----------------------------------------------------------------------------


class PaymentMethodAdminForm(forms.ModelForm):
    class Meta:
        model = PaymentMethod
        fields = ["rider_id", "card_token"]

    def clean_card_token(self) -> str:
        try:
            return services.payment_method_validate(card_token=self.cleaned_data["card_token"])
        except FleetError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    form = PaymentMethodAdminForm
    list_display = ["rider_id", "brand", "last4", "updated_at"]
    list_filter = ["brand"]
    search_fields = ["rider_id", "last4"]
    ordering = ["-updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = ["brand", "last4", "created_at", "updated_at"]
        # A card belongs to one rider; another rider gets their own record.
        return ["rider_id", *readonly] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: PaymentMethod, form: Any, change: bool) -> None:
        saved = services.payment_method_set(rider_id=obj.rider_id, card_token=obj.card_token)
        obj.pk = saved.pk
        obj.refresh_from_db()


# The sandbox provider's own records -------------------------------------------------------


@admin.register(SandboxCharge)
class SandboxChargeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["charge_id", "status", "amount", "currency", "card_token", "created_at"]
    list_filter = ["status", "failure_code", "card_token"]
    search_fields = ["charge_id", "idempotency_key", "description"]
    ordering = ["-created_at"]
    readonly_fields = _all_fields(SandboxCharge)


@admin.register(SandboxRefund)
class SandboxRefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["refund_id", "charge", "amount", "created_at"]
    search_fields = ["refund_id", "charge__charge_id", "idempotency_key"]
    ordering = ["-created_at"]
    list_select_related = ["charge"]
    readonly_fields = _all_fields(SandboxRefund)


@admin.register(ParkedDelivery)
class BillingParkedDeliveryAdmin(ParkedDeliveryAdmin):
    """Deliveries billing could not handle: trips' events (for example TripCompleted with no
    tariff in force) and its own payment steps (for example a payment provider down)."""
