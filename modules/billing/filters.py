"""Query filters of the billing list endpoints."""

import django_filters

from modules.billing.models import Invoice, Payment


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    rider_id = django_filters.UUIDFilter(
        help_text="One rider's invoices (riders only ever see their own)."
    )
    trip_id = django_filters.UUIDFilter()
    issued_after = django_filters.IsoDateTimeFilter(
        field_name="issued_at", lookup_expr="gte", help_text="Issued at or after (ISO 8601)."
    )
    issued_before = django_filters.IsoDateTimeFilter(
        field_name="issued_at", lookup_expr="lt", help_text="Issued before (ISO 8601)."
    )

    class Meta:
        model = Invoice
        fields = ["status", "rider_id", "trip_id", "issued_after", "issued_before"]


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    source = django_filters.ChoiceFilter(
        choices=Payment.Source.choices, help_text="Card payments or credit from the wallet."
    )
    invoice_id = django_filters.UUIDFilter(field_name="invoice_id")
    rider_id = django_filters.UUIDFilter(field_name="invoice__rider_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Payment
        fields = ["status", "source", "invoice_id", "rider_id", "created_after", "created_before"]
