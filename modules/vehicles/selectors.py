"""Reads of the vehicles module."""

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from modules.vehicles.errors import VehicleNotFound
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import FirmwareRelease, Vehicle, VehicleStatusChange
from modules.vehicles.thresholds import low_battery_pct, stale_heartbeat_after


@dataclass(frozen=True, kw_only=True)
class FleetStatusSummary:
    by_status: dict[str, int]
    low_battery: int
    stale_heartbeat: int
    total: int


def vehicle_list() -> QuerySet[Vehicle]:
    """Every vehicle, with its firmware joined so a page costs one query."""
    return Vehicle.objects.select_related("firmware").order_by("vin")


def vehicle_get(*, vehicle_id: UUID) -> Vehicle:
    try:
        return Vehicle.objects.select_related("firmware").get(pk=vehicle_id)
    except Vehicle.DoesNotExist:
        raise VehicleNotFound(f"No vehicle has id {vehicle_id}.") from None


def vehicle_status_history(*, vehicle_id: UUID) -> QuerySet[VehicleStatusChange]:
    """The vehicle's status changes, newest first; raises ``VehicleNotFound``."""
    if not Vehicle.objects.filter(pk=vehicle_id).exists():
        raise VehicleNotFound(f"No vehicle has id {vehicle_id}.")
    return VehicleStatusChange.objects.filter(vehicle_id=vehicle_id).order_by("-at", "-id")


def low_battery_q() -> Q:
    return Q(battery_pct__lt=low_battery_pct())


def stale_heartbeat_q() -> Q:
    cutoff = timezone.now() - stale_heartbeat_after()
    return Q(last_heartbeat_at__isnull=True) | Q(last_heartbeat_at__lt=cutoff)


def fleet_status_summary() -> FleetStatusSummary:
    """Counts of the whole fleet, every status included even at zero, in one query."""
    by_status = {
        f"status_{status}": Count("id", filter=Q(status=status)) for status in VehicleStatus.values
    }
    counts = Vehicle.objects.aggregate(
        total=Count("id"),
        low_battery=Count("id", filter=low_battery_q()),
        stale_heartbeat=Count("id", filter=stale_heartbeat_q()),
        **by_status,
    )
    return FleetStatusSummary(
        by_status={status: counts[f"status_{status}"] for status in VehicleStatus.values},
        low_battery=counts["low_battery"],
        stale_heartbeat=counts["stale_heartbeat"],
        total=counts["total"],
    )


def firmware_release_list() -> QuerySet[FirmwareRelease]:
    """Firmware releases, newest first, with how many vehicles run each."""
    return FirmwareRelease.objects.annotate(vehicle_count=Count("vehicles")).order_by(
        "-released_at", "version"
    )
