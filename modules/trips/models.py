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


# --- the booking saga (docs/decisions/0008-booking-saga.md) ----------------------------------


class BookingState(models.TextChoices):
    RUNNING = "running", "Running"
    CONFIRMED = "confirmed", "Confirmed"
    COMPENSATING = "compensating", "Compensating"
    COMPENSATED = "compensated", "Compensated"
    FAILED = "failed", "Failed (needs staff)"


# A booking in these states still has work to do: a runner holds its lease or will take it.
BOOKING_UNFINISHED_STATES: tuple[str, ...] = (BookingState.RUNNING, BookingState.COMPENSATING)


class BookingStep(models.TextChoices):
    """The saga's steps, in order. ``create_trip`` and ``confirm`` commit together."""

    RESERVE_CREDIT = "reserve_credit", "Reserve the rider's credit"
    RESERVE_VEHICLE = "reserve_vehicle", "Reserve a vehicle"
    CREATE_TRIP = "create_trip", "Create the trip"
    CONFIRM = "confirm", "Confirm the booking"


class BookingStepAction(models.TextChoices):
    DO = "do", "Do"
    UNDO = "undo", "Undo (compensate)"


class BookingStepOutcome(models.TextChoices):
    DONE = "done", "Done"
    # A business refusal (no credit, no vehicle...): the booking is compensated.
    REFUSED = "refused", "Refused"
    # Something was down or broke: the step is tried again later.
    INTERRUPTED = "interrupted", "Interrupted (will be retried)"


class BookingSaga(models.Model):
    """A rider's booking, one step at a time, and what it has done so far.

    The trip's id is chosen when the booking starts, so every step is keyed by it: the credit
    hold's reference, the vehicle's reservation and the trip row itself. A step repeated after
    a crash finds what the first attempt did instead of doing it twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider_id = models.UUIDField(help_text="Id of the rider's account.")
    trip_id = models.UUIDField(
        unique=True, default=uuid.uuid4, help_text="The id the trip gets once the booking holds."
    )
    origin_latitude = _coordinate_field("origin latitude")
    origin_longitude = _coordinate_field("origin longitude")
    destination_latitude = _coordinate_field("destination latitude")
    destination_longitude = _coordinate_field("destination longitude")
    credit_amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="The credit held on the rider's wallet."
    )

    state = models.CharField(
        max_length=16, choices=BookingState.choices, default=BookingState.RUNNING
    )
    step = models.CharField(
        max_length=16,
        choices=BookingStep.choices,
        default=BookingStep.RESERVE_CREDIT,
        help_text="Running: the step to do next. Compensating: the step to undo next.",
    )
    hold_id = models.UUIDField(null=True, blank=True, help_text="The credit hold (users module).")
    vehicle_id = models.UUIDField(
        null=True, blank=True, help_text="The vehicle reserved (vehicles module)."
    )
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(
        default=0, help_text="How many times a runner took the booking up."
    )
    # Crash recovery: a runner works on the booking only while it holds the lease; one that
    # expired means the runner died (or is stuck), and the periodic resume takes it over.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Until when a runner holds it, or when to retry it."
    )

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["rider_id", "created_at"], name="trips_booking_rider_idx"),
            models.Index(fields=["state"], name="trips_booking_state_idx"),
            # What the periodic resume looks for: unfinished bookings whose lease ran out.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(state__in=BOOKING_UNFINISHED_STATES),
                name="trips_booking_unfinished_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=BookingState.values), name="trips_booking_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(step__in=BookingStep.values), name="trips_booking_step_valid"
            ),
            models.CheckConstraint(
                condition=Q(credit_amount__gt=0), name="trips_booking_credit_positive"
            ),
            # An unfinished booking always says when a runner may take it up.
            models.CheckConstraint(
                condition=~Q(state__in=BOOKING_UNFINISHED_STATES)
                | Q(lease_expires_at__isnull=False),
                name="trips_booking_unfinished_has_lease",
            ),
        ]
        permissions = [
            ("recover_bookingsaga", "Can resume or compensate stuck booking sagas"),
        ]

    def __str__(self) -> str:
        return f"Booking {self.id} ({self.state})"


class BookingSagaStep(models.Model):
    """One attempt at one step of a booking, done or undone, and how it ended. Never edited."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    saga = models.ForeignKey(BookingSaga, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveIntegerField(help_text="Order within the booking, from 1.")
    step = models.CharField(max_length=16, choices=BookingStep.choices)
    action = models.CharField(max_length=4, choices=BookingStepAction.choices)
    outcome = models.CharField(max_length=12, choices=BookingStepOutcome.choices)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["saga_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["saga", "number"], name="trips_booking_step_number"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.step}: {self.outcome}"
