"""Filters of the users module's list endpoints."""

import django_filters
from django.db.models import Q, QuerySet

from modules.users.models import LedgerEntry, Rider


class RiderFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", label="Part of the username, email or display name."
    )
    is_active = django_filters.BooleanFilter(field_name="user__is_active")
    home_city = django_filters.CharFilter(field_name="home_city", lookup_expr="iexact")

    class Meta:
        model = Rider
        fields = ("search", "is_active", "home_city")

    def filter_search(self, queryset: QuerySet[Rider], name: str, value: str) -> QuerySet[Rider]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(user__username__icontains=value)
            | Q(user__email__icontains=value)
            | Q(display_name__icontains=value)
        )


class LedgerEntryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LedgerEntry.Kind.choices)

    class Meta:
        model = LedgerEntry
        fields = ("kind",)
