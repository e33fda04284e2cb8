"""Trips and the positions reported while they run.

A trip refers to its rider and its vehicle by id only: riders are accounts (identity is
platform) and vehicles belong to the vehicles module, which may one day live in another process.
"""

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from monolith.platform.outbox.models import InboxEntry, OutboxMessage, ParkedDeliveryBase


class TripStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


# A rider may hold at most one trip in these states; the database enforces it too.
ACTIVE_TRIP_STATUSES: tuple[str, ...] = (
    TripStatus.REQUESTED,
    TripStatus.ASSIGNED,
    TripStatus.IN_PROGRESS,
)


class CancelReason(models.TextChoices):
    RIDER_CHANGED_MIND = "rider_changed_mind", "Rider changed their mind"
    NO_SHOW = "no_show", "Rider did not show up"
    VEHICLE_ISSUE = "vehicle_issue", "Vehicle issue"
    STAFF_CANCELLED = "staff_cancelled", "Cancelled by staff"
    OTHER = "other", "Other"


class CancelledBy(models.TextChoices):
    RIDER = "rider", "Rider"
    STAFF = "staff", "Staff"


def _coordinate_field(verbose_name: str, *, null: bool = False) -> models.DecimalField:
    # Six decimal places locate a point to about 11 cm, finer than any vehicle needs.
    return models.DecimalField(verbose_name, max_digits=9, decimal_places=6, null=null)


def _latitude_in_range(prefix: str) -> Q:
    return Q(**{f"{prefix}latitude__gte": -90, f"{prefix}latitude__lte": 90})


def _longitude_in_range(prefix: str) -> Q:
    return Q(**{f"{prefix}longitude__gte": -180, f"{prefix}longitude__lte": 180})


class Trip(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider_id = models.UUIDField(help_text="Id of the rider's account.")
    vehicle_id = models.UUIDField(
        null=True, blank=True, help_text="Id of the vehicle assigned (vehicles module)."
    )
    status = models.CharField(
        max_length=16, choices=TripStatus.choices, default=TripStatus.REQUESTED
    )

    origin_latitude = _coordinate_field("origin latitude")
    origin_longitude = _coordinate_field("origin longitude")
    destination_latitude = _coordinate_field("destination latitude")
    destination_longitude = _coordinate_field("destination longitude")

    requested_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    distance_km = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    cancel_reason = models.CharField(
        max_length=32, choices=CancelReason.choices, blank=True, default=""
    )
    cancel_note = models.CharField(max_length=500, blank=True, default="")
    cancelled_by = models.CharField(
        max_length=8, choices=CancelledBy.choices, blank=True, default=""
    )

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["rider_id", "requested_at"], name="trips_trip_rider_req_idx"),
            models.Index(fields=["status"], name="trips_trip_status_idx"),
            models.Index(fields=["vehicle_id"], name="trips_trip_vehicle_idx"),
            models.Index(fields=["requested_at"], name="trips_trip_requested_idx"),
        ]
        constraints = [
            # The last line of defence for "one active trip per rider" when two requests race.
            models.UniqueConstraint(
                fields=["rider_id"],
                condition=Q(status__in=ACTIVE_TRIP_STATUSES),
                name="trips_trip_one_active_per_rider",
            ),
            models.CheckConstraint(
                condition=Q(status__in=TripStatus.values), name="trips_trip_status_valid"
            ),
            models.CheckConstraint(
                condition=_latitude_in_range("origin_") & _longitude_in_range("origin_"),
                name="trips_trip_origin_in_range",
            ),
            models.CheckConstraint(
                condition=_latitude_in_range("destination_") & _longitude_in_range("destination_"),
                name="trips_trip_destination_in_range",
            ),
            models.CheckConstraint(
                condition=~Q(
                    origin_latitude=F("destination_latitude"),
                    origin_longitude=F("destination_longitude"),
                ),
                name="trips_trip_origin_not_destination",
            ),
            models.CheckConstraint(
                condition=Q(distance_km__isnull=True) | Q(distance_km__gt=0),
                name="trips_trip_distance_positive",
            ),
            models.CheckConstraint(
                condition=Q(duration_seconds__isnull=True) | Q(duration_seconds__gt=0),
                name="trips_trip_duration_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Trip {self.id} ({self.status})"


class TripPosition(models.Model):
    """Where the vehicle was at a moment of a running trip, as the fleet reported it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="positions")
    recorded_at = models.DateTimeField()
    latitude = _coordinate_field("latitude")
    longitude = _coordinate_field("longitude")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["trip", "recorded_at"], name="trips_position_trip_rec_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=_latitude_in_range("") & _longitude_in_range(""),
                name="trips_position_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.latitude}, {self.longitude} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


class Outbox(OutboxMessage):
    """Events this module published, written in the transaction that made them true."""


class Inbox(InboxEntry):
    """Events trips has handled, each written with its effect: a redelivery does nothing."""


class ParkedDelivery(ParkedDeliveryBase):
    """Deliveries to trips that failed every attempt, waiting for staff to retry them."""
