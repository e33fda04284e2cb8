"""Admin for fleet staff: look trips up, follow their positions, cancel through the service.

Trips change only through the lifecycle services, so every field here is read-only; the one
write staff get is the cancel action, which obeys the same rules as the REST API.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from modules.trips import services
from modules.trips.models import CancelledBy, CancelReason, ParkedDelivery, Trip, TripPosition
from monolith.platform.admin import ParkedDeliveryAdmin, ReadOnlyAdminMixin, ReadOnlyTabularInline
from monolith.platform.errors import FleetError


class TripPositionInline(ReadOnlyTabularInline):
    model = TripPosition
    fields = ["recorded_at", "latitude", "longitude", "received_at"]
    readonly_fields = ["recorded_at", "latitude", "longitude", "received_at"]
    ordering = ["-recorded_at"]
    classes = ["collapse"]


@admin.register(Trip)
class TripAdmin(admin.ModelAdmin):
    list_display = ["id", "rider_id", "vehicle_id", "status", "requested_at", "distance_km"]
    list_filter = ["status", "cancel_reason", "cancelled_by"]
    date_hierarchy = "requested_at"
    search_fields = ["=id", "=rider_id", "=vehicle_id"]
    ordering = ["-requested_at"]
    inlines = [TripPositionInline]
    actions = ["cancel_selected"]
    fieldsets = [
        (None, {"fields": ["id", "rider_id", "vehicle_id", "status"]}),
        (
            "Route",
            {
                "fields": [
                    "origin_latitude",
                    "origin_longitude",
                    "destination_latitude",
                    "destination_longitude",
                ]
            },
        ),
        (
            "Lifecycle",
            {
                "fields": [
                    "requested_at",
                    "assigned_at",
                    "started_at",
                    "completed_at",
                    "cancelled_at",
                    "updated_at",
                ]
            },
        ),
        ("Outcome", {"fields": ["distance_km", "duration_seconds"]}),
        ("Cancellation", {"fields": ["cancel_reason", "cancelled_by", "cancel_note"]}),
    ]
    readonly_fields = [
        "id",
        "rider_id",
        "vehicle_id",
        "status",
        "origin_latitude",
        "origin_longitude",
        "destination_latitude",
        "destination_longitude",
        "requested_at",
        "assigned_at",
        "started_at",
        "completed_at",
        "cancelled_at",
        "updated_at",
        "distance_km",
        "duration_seconds",
        "cancel_reason",
        "cancelled_by",
        "cancel_note",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Trips start as a rider's request, which needs a vehicle reserved in the same step.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Trips are the history billing and riders rely on.
        return False

    @admin.action(description="Cancel selected trips (staff)", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Trip]) -> None:
        cancelled = 0
        skipped: list[str] = []
        for trip_id in queryset.values_list("id", flat=True):
            try:
                services.trip_cancel(
                    trip_id=trip_id,
                    reason=CancelReason.STAFF_CANCELLED,
                    cancelled_by=CancelledBy.STAFF,
                    note=f"Cancelled in the admin by {request.user}.",
                )
            except FleetError as exc:
                skipped.append(f"{trip_id}: {exc.message}")
            else:
                cancelled += 1
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} trip(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Skipped {len(skipped)} trip(s): " + "; ".join(skipped),
                messages.WARNING,
            )


@admin.register(TripPosition)
class TripPositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["trip_id", "recorded_at", "latitude", "longitude", "received_at"]
    list_filter = ["recorded_at"]
    date_hierarchy = "recorded_at"
    search_fields = ["=trip__id"]
    ordering = ["-recorded_at"]
    readonly_fields = ["id", "trip", "recorded_at", "latitude", "longitude", "received_at"]


@admin.register(ParkedDelivery)
class TripsParkedDeliveryAdmin(ParkedDeliveryAdmin):
    """Vehicle events trips could not handle, with their last error and a retry action."""
