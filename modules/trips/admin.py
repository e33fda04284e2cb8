"""Admin for fleet staff: look trips up, follow their positions, cancel through the service.

Trips change only through the lifecycle services, so every field here is read-only; the one
write staff get is the cancel action, which obeys the same rules as the REST API.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from modules.trips import booking, services
from modules.trips.models import (
    BookingSaga,
    BookingSagaStep,
    CancelledBy,
    CancelReason,
    ParkedDelivery,
    Trip,
    TripPosition,
)
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
        (
            "Cancellation or interruption",
            {"fields": ["cancel_reason", "cancelled_by", "cancel_note"]},
        ),
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


# --- booking sagas ---------------------------------------------------------------------------


class BookingSagaStepInline(ReadOnlyTabularInline):
    model = BookingSagaStep
    fields = ["number", "step", "action", "outcome", "error_code", "error", "at"]
    readonly_fields = ["number", "step", "action", "outcome", "error_code", "error", "at"]
    ordering = ["number"]
    show_change_link = False


@admin.register(BookingSaga)
class BookingSagaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every booking with its steps and errors; stuck ones are resumed or turned back here."""

    list_display = [
        "id",
        "rider_id",
        "trip_id",
        "state",
        "step",
        "failure_code",
        "attempts",
        "created_at",
    ]
    list_filter = ["state", "step", "failure_code"]
    date_hierarchy = "created_at"
    search_fields = ["=id", "=rider_id", "=trip_id"]
    ordering = ["-created_at"]
    inlines = [BookingSagaStepInline]
    actions = ["resume_selected", "compensate_selected"]
    fieldsets = [
        (None, {"fields": ["id", "rider_id", "trip_id", "state", "step"]}),
        ("Failure", {"fields": ["failure_code", "failure_message"]}),
        (
            "Reserved",
            {"fields": ["credit_amount", "hold_id", "vehicle_id"]},
        ),
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
            "Runs",
            {"fields": ["attempts", "lease_expires_at", "created_at", "updated_at", "finished_at"]},
        ),
    ]
    readonly_fields = [
        "id",
        "rider_id",
        "trip_id",
        "state",
        "step",
        "failure_code",
        "failure_message",
        "credit_amount",
        "hold_id",
        "vehicle_id",
        "origin_latitude",
        "origin_longitude",
        "destination_latitude",
        "destination_longitude",
        "attempts",
        "lease_expires_at",
        "created_at",
        "updated_at",
        "finished_at",
    ]

    def has_recover_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trips.recover_bookingsaga")

    @admin.action(
        description="Resume selected bookings (carry on, or turn back on a refusal)",
        permissions=["recover"],
    )
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[BookingSaga]) -> None:
        self._recover(request, queryset, "Resumed", booking.booking_saga_resume_now)

    @admin.action(
        description="Compensate selected bookings (release the vehicle and the credit)",
        permissions=["recover"],
    )
    def compensate_selected(self, request: HttpRequest, queryset: QuerySet[BookingSaga]) -> None:
        reason = f"Turned back in the admin by {request.user}."
        self._recover(
            request,
            queryset,
            "Compensated",
            lambda *, saga_id: booking.booking_saga_compensate(saga_id=saga_id, reason=reason),
        )

    def _recover(
        self,
        request: HttpRequest,
        queryset: QuerySet[BookingSaga],
        done: str,
        recover: Callable[..., booking.BookingRun],
    ) -> None:
        outcomes: list[str] = []
        skipped: list[str] = []
        for saga_id in queryset.values_list("id", flat=True):
            try:
                run = recover(saga_id=saga_id)
            except FleetError as exc:
                skipped.append(f"{saga_id}: {exc.message}")
            else:
                outcomes.append(f"{saga_id} is {run.saga.state}")
        if outcomes:
            self.message_user(request, f"{done}: " + "; ".join(outcomes) + ".", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Skipped {len(skipped)} booking(s): " + "; ".join(skipped),
                messages.WARNING,
            )
