"""The fleet staff's admin: vehicles, their history, firmware and telemetry.

Status, mileage, heartbeat and the trip holding a vehicle are never edited by hand: status
changes go through the bulk actions, which call the same service as the REST API, so the
lifecycle rules (a vehicle a trip holds may only be taken offline) hold here too.

Who changed a status or installed firmware is an account id (accounts are the platform's and
may live in another database); the pages show the username, looked up once per page.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponseRedirect

from modules.vehicles import services
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import (
    FirmwareInstall,
    FirmwareRelease,
    TelemetryReading,
    Vehicle,
    VehicleStatusChange,
)
from modules.vehicles.vin import InvalidVin, vin_normalize
from monolith.platform.admin import (
    AccountNamesAdmin,
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    account_username,
    account_usernames_attach,
)
from monolith.platform.errors import FleetError


class _StatusChangeFormSet(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet[VehicleStatusChange]:
        changes: QuerySet[VehicleStatusChange] = super().get_queryset()
        if not hasattr(self, "_names_attached"):
            account_usernames_attach(changes, ["changed_by_id"])
            self._names_attached = True
        return changes


class VehicleStatusChangeInline(ReadOnlyTabularInline):
    model = VehicleStatusChange
    formset = _StatusChangeFormSet
    fields = ("at", "from_status", "to_status", "reason", "changed_by")
    readonly_fields = ("at", "from_status", "to_status", "reason", "changed_by")
    ordering = ["-at"]
    show_change_link = False
    verbose_name_plural = "status history"

    @admin.display(description="changed by")
    def changed_by(self, change: VehicleStatusChange) -> str:
        return account_username(change, "changed_by_id")


class VehicleAdminForm(forms.ModelForm):
    class Meta:
        model = Vehicle
        fields = ["vin", "make", "model", "seats", "battery_pct", "latitude", "longitude"]

    def clean_vin(self) -> str:
        try:
            return vin_normalize(self.cleaned_data["vin"])
        except InvalidVin as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    form = VehicleAdminForm
    list_display = [
        "vin",
        "make",
        "model",
        "status",
        "battery_pct",
        "odometer_km",
        "firmware",
        "last_heartbeat_at",
    ]
    list_filter = ["status", "make", "firmware"]
    list_select_related = ["firmware"]
    search_fields = ["vin", "make", "model"]
    ordering = ["vin"]
    list_per_page = 50
    inlines = [VehicleStatusChangeInline]
    actions = ["send_to_maintenance", "mark_offline", "mark_available"]

    def get_fields(self, request: HttpRequest, obj: Vehicle | None = None) -> list[Any]:
        if obj is None:
            return ["vin", "make", "model", "seats", "battery_pct", "latitude", "longitude"]
        return [
            "id",
            "vin",
            "make",
            "model",
            "seats",
            "status",
            "odometer_km",
            "battery_pct",
            "latitude",
            "longitude",
            "last_heartbeat_at",
            "current_trip_id",
            "firmware",
            "created_at",
            "updated_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Vehicle | None = None) -> list[str]:
        if obj is None:
            return []
        # Only the description is edited here; the rest is reported by the vehicle or
        # changed through the lifecycle.
        return [
            "id",
            "vin",
            "status",
            "odometer_km",
            "battery_pct",
            "latitude",
            "longitude",
            "last_heartbeat_at",
            "current_trip_id",
            "firmware",
            "created_at",
            "updated_at",
        ]

    def save_model(self, request: HttpRequest, obj: Vehicle, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.vehicle_update(
                vehicle_id=obj.id, make=data["make"], model=data["model"], seats=data["seats"]
            )
            return
        # The service registers under the form's id, so the admin's log and redirect match.
        services.vehicle_register(
            vehicle_id=obj.id,
            vin=data["vin"],
            make=data["make"],
            model=data["model"],
            seats=data["seats"],
            battery_pct=data["battery_pct"],
            latitude=data["latitude"],
            longitude=data["longitude"],
        )

    def _transition(
        self, request: HttpRequest, queryset: QuerySet[Vehicle], *, to_status: str, done: str
    ) -> HttpResponseRedirect | None:
        changed = 0
        skipped: list[str] = []
        for vehicle in queryset.order_by("vin"):
            try:
                services.vehicle_transition(
                    vehicle_id=vehicle.id,
                    status=to_status,
                    reason=f"admin action: {done}",
                    changed_by_id=request.user.pk,
                )
            except FleetError as exc:
                skipped.append(f"{vehicle.vin}: {exc.message}")
            else:
                changed += 1
        if changed:
            noun = "vehicle" if changed == 1 else "vehicles"
            self.message_user(request, f"{changed} {noun} {done}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Skipped {len(skipped)}: {' '.join(skipped)}", messages.WARNING
            )
        # The status filter that picked the vehicles no longer matches the ones that moved;
        # drop it so staff see them in their new status.
        if changed and "status__exact" in request.GET:
            params = request.GET.copy()
            del params["status__exact"]
            query = params.urlencode()
            return HttpResponseRedirect(f"{request.path}?{query}" if query else request.path)
        return None

    @admin.action(description="Send selected vehicles to maintenance", permissions=["change"])
    def send_to_maintenance(
        self, request: HttpRequest, queryset: QuerySet[Vehicle]
    ) -> HttpResponseRedirect | None:
        return self._transition(
            request, queryset, to_status=VehicleStatus.MAINTENANCE, done="sent to maintenance"
        )

    @admin.action(description="Mark selected vehicles offline", permissions=["change"])
    def mark_offline(
        self, request: HttpRequest, queryset: QuerySet[Vehicle]
    ) -> HttpResponseRedirect | None:
        return self._transition(
            request, queryset, to_status=VehicleStatus.OFFLINE, done="marked offline"
        )

    @admin.action(description="Mark selected vehicles available", permissions=["change"])
    def mark_available(
        self, request: HttpRequest, queryset: QuerySet[Vehicle]
    ) -> HttpResponseRedirect | None:
        return self._transition(
            request, queryset, to_status=VehicleStatus.AVAILABLE, done="marked available"
        )


@admin.register(VehicleStatusChange)
class VehicleStatusChangeAdmin(ReadOnlyAdminMixin, AccountNamesAdmin):
    list_display = ["at", "vehicle", "from_status", "to_status", "reason", "changed_by"]
    list_filter = ["to_status", "from_status"]
    list_select_related = ["vehicle"]
    search_fields = ["vehicle__vin", "reason"]
    date_hierarchy = "at"
    ordering = ["-at"]
    readonly_fields = ("vehicle", "from_status", "to_status", "reason", "changed_by", "at")
    fields = readonly_fields
    account_fields = ("changed_by_id",)

    @admin.display(description="changed by")
    def changed_by(self, change: VehicleStatusChange) -> str:
        return account_username(change, "changed_by_id")


@admin.register(FirmwareRelease)
class FirmwareReleaseAdmin(admin.ModelAdmin):
    list_display = ["version", "released_at"]
    search_fields = ["version", "notes"]
    list_filter = ["released_at"]
    ordering = ["-released_at"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: FirmwareRelease | None = None
    ) -> list[str]:
        # A published version is what vehicles report; renaming it would rewrite history.
        return ["id", "version"] if obj is not None else ["id"]


@admin.register(FirmwareInstall)
class FirmwareInstallAdmin(ReadOnlyAdminMixin, AccountNamesAdmin):
    list_display = ["installed_at", "vehicle", "firmware", "previous_firmware", "installed_by"]
    list_filter = ["firmware"]
    list_select_related = ["vehicle", "firmware", "previous_firmware"]
    search_fields = ["vehicle__vin", "firmware__version"]
    date_hierarchy = "installed_at"
    readonly_fields = ("vehicle", "firmware", "previous_firmware", "installed_by", "installed_at")
    fields = readonly_fields
    account_fields = ("installed_by_id",)

    @admin.display(description="installed by")
    def installed_by(self, install: FirmwareInstall) -> str:
        return account_username(install, "installed_by_id")


@admin.register(TelemetryReading)
class TelemetryReadingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "recorded_at",
        "vehicle",
        "battery_pct",
        "odometer_km",
        "speed_kph",
        "latitude",
        "longitude",
    ]
    list_filter = ["vehicle__status"]
    list_select_related = ["vehicle"]
    search_fields = ["vehicle__vin"]
    date_hierarchy = "recorded_at"
    ordering = ["-recorded_at"]
    show_full_result_count = False
