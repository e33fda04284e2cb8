"""Filters of the vehicle list: ``?status=available&status=charging&low_battery=true`` etc."""

import django_filters
from django.db.models import QuerySet

from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import Vehicle
from modules.vehicles.selectors import low_battery_q, stale_heartbeat_q


class VehicleFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=VehicleStatus.choices, help_text="Repeat to match any of several statuses."
    )
    make = django_filters.CharFilter(lookup_expr="iexact")
    model = django_filters.CharFilter(lookup_expr="iexact")
    low_battery = django_filters.BooleanFilter(
        method="filter_low_battery",
        help_text="Only vehicles below (true) or at least at (false) the low-battery threshold.",
    )
    stale = django_filters.BooleanFilter(
        method="filter_stale",
        help_text="Only vehicles never heard from or silent too long (true), or the others.",
    )
    firmware = django_filters.CharFilter(
        field_name="firmware__version", help_text="Firmware version, e.g. 1.4.2."
    )

    class Meta:
        model = Vehicle
        fields = ["status", "make", "model", "low_battery", "stale", "firmware"]

    def filter_low_battery(
        self, queryset: QuerySet[Vehicle], name: str, value: bool
    ) -> QuerySet[Vehicle]:
        return queryset.filter(low_battery_q()) if value else queryset.exclude(low_battery_q())

    def filter_stale(
        self, queryset: QuerySet[Vehicle], name: str, value: bool
    ) -> QuerySet[Vehicle]:
        return (
            queryset.filter(stale_heartbeat_q()) if value else queryset.exclude(stale_heartbeat_q())
        )
