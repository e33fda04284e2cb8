"""Filters of the users module's list endpoints.

Username, email and the active flag are the account's, which may live in another database:
those filters first read the matching account ids, then filter the profiles by id.
"""

import django_filters
from django.db.models import Q, QuerySet

from modules.users.accounts import account_ids_inactive, account_ids_matching
from modules.users.models import LedgerEntry, Rider


class RiderFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", label="Part of the username, email or display name."
    )
    is_active = django_filters.BooleanFilter(
        method="filter_is_active", label="Whether the rider's account is active."
    )
    home_city = django_filters.CharFilter(field_name="home_city", lookup_expr="iexact")

    class Meta:
        model = Rider
        fields = ("search", "is_active", "home_city")

    def filter_search(self, queryset: QuerySet[Rider], name: str, value: str) -> QuerySet[Rider]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(id__in=account_ids_matching(value)) | Q(display_name__icontains=value)
        )

    def filter_is_active(
        self, queryset: QuerySet[Rider], name: str, value: bool
    ) -> QuerySet[Rider]:
        inactive = account_ids_inactive()
        return queryset.exclude(id__in=inactive) if value else queryset.filter(id__in=inactive)


class LedgerEntryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LedgerEntry.Kind.choices)

    class Meta:
        model = LedgerEntry
        fields = ("kind",)
