"""Query filters of the trip list."""

import django_filters

from modules.trips.models import BookingSaga, BookingState, Trip, TripStatus


class TripFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=TripStatus.choices,
        help_text="Only trips in these states; repeat the parameter for several.",
    )
    vehicle_id = django_filters.UUIDFilter(help_text="Only trips of this vehicle.")
    rider_id = django_filters.UUIDFilter(
        help_text="Only this rider's trips (useful to staff; riders only ever see their own)."
    )
    requested_after = django_filters.IsoDateTimeFilter(
        field_name="requested_at",
        lookup_expr="gte",
        help_text="Only trips requested at or after this moment (ISO 8601).",
    )
    requested_before = django_filters.IsoDateTimeFilter(
        field_name="requested_at",
        lookup_expr="lt",
        help_text="Only trips requested before this moment (ISO 8601).",
    )

    class Meta:
        model = Trip
        fields = ["status", "vehicle_id", "rider_id", "requested_after", "requested_before"]


class BookingFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=BookingState.choices,
        help_text="Only bookings in these states; repeat the parameter for several.",
    )
    rider_id = django_filters.UUIDFilter(
        help_text="Only this rider's bookings (useful to staff; riders only see their own)."
    )
    trip_id = django_filters.UUIDFilter(help_text="The booking of this trip.")

    class Meta:
        model = BookingSaga
        fields = ["state", "rider_id", "trip_id"]
