"""Filters of the vehicle list: ``?status=available&status=charging&low_battery=true`` etc."""

from typing import Any

import django_filters
from django.db.models import QuerySet

from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import Vehicle
from modules.vehicles.selectors import low_battery_q, stale_heartbeat_q


class YesNoFilter(django_filters.ChoiceFilter):
    """``true`` or ``false``; anything else is a 400 naming the parameter.

    django-filter's ``BooleanFilter`` reads an unknown word as "no filter", so a typo such as
    ``?low_battery=maybe`` would quietly return the whole fleet.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[("true", "true"), ("false", "false")], **kwargs)


class VehicleFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=VehicleStatus.choices, help_text="Repeat to match any of several statuses."
    )
    make = django_filters.CharFilter(lookup_expr="iexact")
    model = django_filters.CharFilter(lookup_expr="iexact")
    low_battery = YesNoFilter(
        method="filter_low_battery",
        help_text="Only vehicles below (true) or at least at (false) the low-battery threshold.",
    )
    stale = YesNoFilter(
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
        self, queryset: QuerySet[Vehicle], name: str, value: str
    ) -> QuerySet[Vehicle]:
        low = low_battery_q()
        return queryset.filter(low) if value == "true" else queryset.exclude(low)

    def filter_stale(self, queryset: QuerySet[Vehicle], name: str, value: str) -> QuerySet[Vehicle]:
        stale = stale_heartbeat_q()
        return queryset.filter(stale) if value == "true" else queryset.exclude(stale)
