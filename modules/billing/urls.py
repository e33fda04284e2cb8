"""REST API of the billing module, mounted at /api/v1/billing/."""

from django.urls import path

from modules.billing import apis

app_name = "billing"

urlpatterns = [
    path("tariffs/", apis.TariffListApi.as_view(), name="tariff-list"),
    path("tariffs/current/", apis.TariffCurrentApi.as_view(), name="tariff-current"),
    path("tariffs/<uuid:tariff_id>/", apis.TariffDetailApi.as_view(), name="tariff-detail"),
    path("invoices/", apis.InvoiceListApi.as_view(), name="invoice-list"),
    path("invoices/<uuid:invoice_id>/", apis.InvoiceDetailApi.as_view(), name="invoice-detail"),
    path("invoices/<uuid:invoice_id>/pay/", apis.InvoicePayApi.as_view(), name="invoice-pay"),
    path("me/payment-method/", apis.PaymentMethodMeApi.as_view(), name="payment-method-me"),
    path("me/credit-purchases/", apis.CreditPurchaseMeApi.as_view(), name="credit-purchase-me"),
    path("payments/", apis.PaymentListApi.as_view(), name="payment-list"),
    path(
        "payments/<uuid:payment_id>/refunds/",
        apis.PaymentRefundCreateApi.as_view(),
        name="payment-refund-create",
    ),
]
