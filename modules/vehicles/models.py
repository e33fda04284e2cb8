import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from modules.vehicles.lifecycle import TRIP_HELD_STATUSES, VehicleStatus
from monolith.platform.geo import COORDINATE_PLACES
from monolith.platform.outbox.models import OutboxMessage

# Semantic Versioning 2.0.0, as published at semver.org.
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
semver_validator = RegexValidator(
    SEMVER_PATTERN, "Use a semantic version such as 1.4.2 or 2.0.0-rc.1.", code="semver"
)

LATITUDE_VALIDATORS = [MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))]
LONGITUDE_VALIDATORS = [MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))]
BATTERY_VALIDATORS = [MinValueValidator(0), MaxValueValidator(100)]
NAME_MAX_LENGTH = 64
SEATS_MIN = 1
SEATS_MAX = 9
# Six decimal places of a degree are about 11 cm, as every module stores positions.
COORDINATE_MAX_DIGITS = COORDINATE_PLACES + 3
# No road vehicle comes near ten million kilometres; a larger reading is a broken sensor.
ODOMETER_MAX_KM = Decimal("9999999.99")
SPEED_MAX_KPH = Decimal("500.0")


class FirmwareRelease(models.Model):
    """A firmware build that can be installed on vehicles."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.CharField(max_length=64, unique=True, validators=[semver_validator])
    notes = models.TextField(blank=True)
    released_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-released_at"]
        verbose_name = "firmware release"

    def __str__(self) -> str:
        return self.version


class Vehicle(models.Model):
    """A vehicle of the fleet, with its latest known position, charge and mileage."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vin = models.CharField("VIN", max_length=17, unique=True)
    make = models.CharField(max_length=NAME_MAX_LENGTH)
    model = models.CharField(max_length=NAME_MAX_LENGTH)
    seats = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(SEATS_MIN), MaxValueValidator(SEATS_MAX)]
    )
    status = models.CharField(
        max_length=16, choices=VehicleStatus.choices, default=VehicleStatus.AVAILABLE
    )
    odometer_km = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    battery_pct = models.PositiveSmallIntegerField(default=100, validators=BATTERY_VALIDATORS)
    latitude = models.DecimalField(
        max_digits=COORDINATE_MAX_DIGITS,
        decimal_places=COORDINATE_PLACES,
        validators=LATITUDE_VALIDATORS,
        null=True,
        blank=True,
    )
    longitude = models.DecimalField(
        max_digits=COORDINATE_MAX_DIGITS,
        decimal_places=COORDINATE_PLACES,
        validators=LONGITUDE_VALIDATORS,
        null=True,
        blank=True,
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The trip holding the vehicle (trips module, so an id and no foreign key). Only the trip
    # services set and clear it; no one can hand a held vehicle to another trip.
    current_trip_id = models.UUIDField(
        "current trip", null=True, blank=True, help_text="The trip holding the vehicle, if any."
    )
    firmware = models.ForeignKey(
        FirmwareRelease,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vehicles",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["vin"]
        indexes = [models.Index(fields=["status"], name="vehicles_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(seats__gte=SEATS_MIN, seats__lte=SEATS_MAX),
                name="vehicles_seats_range",
            ),
            models.CheckConstraint(
                condition=Q(battery_pct__gte=0, battery_pct__lte=100),
                name="vehicles_battery_range",
            ),
            models.CheckConstraint(condition=Q(odometer_km__gte=0), name="vehicles_odometer_gte_0"),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="vehicles_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="vehicles_longitude_range",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="vehicles_position_both_or_neither",
            ),
            models.CheckConstraint(
                condition=Q(status__in=VehicleStatus.values), name="vehicles_status_valid"
            ),
            # Reserved and in_trip only ever for a trip; a held vehicle may also be offline.
            models.CheckConstraint(
                condition=Q(current_trip_id__isnull=False, status__in=sorted(TRIP_HELD_STATUSES))
                | (
                    Q(current_trip_id__isnull=True)
                    & ~Q(status__in=[VehicleStatus.RESERVED, VehicleStatus.IN_TRIP])
                ),
                name="vehicles_trip_held_status",
            ),
            models.UniqueConstraint(
                fields=["current_trip_id"], name="vehicles_one_vehicle_per_trip"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vin} ({self.make} {self.model})"


class VehicleStatusChange(models.Model):
    """One step of a vehicle's lifecycle: who moved it from which status to which, and why."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=VehicleStatus.choices)
    to_status = models.CharField(max_length=16, choices=VehicleStatus.choices)
    reason = models.CharField(max_length=255, blank=True)
    # The account (platform user id) that made the change; none when a trip or a module did.
    # An id, not a relation: the accounts may live in another database than this module.
    changed_by_id = models.UUIDField("changed by", null=True, blank=True, db_index=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["vehicle", "-at"], name="vehicles_change_vehicle_at")]
        verbose_name = "vehicle status change"

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class FirmwareInstall(models.Model):
    """A firmware release put on a vehicle, kept so a bad rollout can be traced."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="firmware_installs")
    firmware = models.ForeignKey(FirmwareRelease, on_delete=models.PROTECT, related_name="installs")
    previous_firmware = models.ForeignKey(
        FirmwareRelease, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The account (platform user id) that installed it, as for status changes.
    installed_by_id = models.UUIDField("installed by", null=True, blank=True, db_index=True)
    installed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-installed_at"]
        indexes = [models.Index(fields=["vehicle", "-installed_at"], name="vehicles_install_at")]

    def __str__(self) -> str:
        return f"{self.firmware} on {self.vehicle_id}"


class TelemetryReading(models.Model):
    """What a vehicle reported at one moment: where it was, its charge, mileage and speed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="readings")
    recorded_at = models.DateTimeField()
    latitude = models.DecimalField(
        max_digits=COORDINATE_MAX_DIGITS,
        decimal_places=COORDINATE_PLACES,
        validators=LATITUDE_VALIDATORS,
    )
    longitude = models.DecimalField(
        max_digits=COORDINATE_MAX_DIGITS,
        decimal_places=COORDINATE_PLACES,
        validators=LONGITUDE_VALIDATORS,
    )
    battery_pct = models.PositiveSmallIntegerField(validators=BATTERY_VALIDATORS)
    odometer_km = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(0)]
    )
    speed_kph = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["vehicle", "-recorded_at"], name="vehicles_reading_at")]
        verbose_name = "telemetry reading"

    def __str__(self) -> str:
        return f"{self.vehicle_id} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


class Outbox(OutboxMessage):
    """Events this module published, written in the transaction that made them true."""
