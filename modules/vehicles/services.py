"""Writes of the vehicles module: registration, lifecycle steps, firmware and telemetry.

Two kinds of status change exist. The trip steps (reserve, start, release, end) are taken for
one trip, record it on the vehicle and refuse a vehicle another trip holds. Manual changes
(staff, or a module reporting a vehicle that stopped answering) take only the lifecycle's
manual steps and never touch a vehicle a trip holds, except to take it offline.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import DecimalField, ExpressionWrapper, F, Value
from django.utils import timezone

from modules.vehicles.errors import (
    NoVehicleAvailable,
    TelemetryRejected,
    VehicleHeldByTrip,
    VehicleNotFound,
)
from modules.vehicles.events import VehicleRegistered, VehicleStatusChanged, VehicleWentOffline
from modules.vehicles.lifecycle import MANUAL_LIFECYCLE, VEHICLE_LIFECYCLE, VehicleStatus
from modules.vehicles.models import (
    NAME_MAX_LENGTH,
    ODOMETER_MAX_KM,
    SEATS_MAX,
    SEATS_MIN,
    SPEED_MAX_KPH,
    FirmwareInstall,
    FirmwareRelease,
    TelemetryReading,
    Vehicle,
    VehicleStatusChange,
    semver_validator,
)
from modules.vehicles.thresholds import TELEMETRY_CLOCK_SKEW, low_battery_pct
from modules.vehicles.vin import InvalidVin, vin_normalize
from monolith.platform.errors import IllegalTransition, InvalidRequest
from monolith.platform.events import publish
from monolith.platform.geo import (
    LATITUDE_LIMIT,
    LONGITUDE_LIMIT,
    coordinate_check,
    position_check,
)
from monolith.platform.lifecycle import Lifecycle
from monolith.platform.registry import module_atomic

TELEMETRY_BATCH_MAX = 500
ODOMETER_STEP = Decimal("0.01")
SPEED_STEP = Decimal("0.1")


@dataclass(frozen=True, kw_only=True)
class TelemetryInput:
    """One reading as a vehicle sends it."""

    recorded_at: datetime
    latitude: Decimal
    longitude: Decimal
    battery_pct: int
    odometer_km: Decimal
    speed_kph: Decimal | None = None


def _vehicle_locked(vehicle_id: UUID) -> Vehicle:
    try:
        return Vehicle.objects.select_for_update().get(pk=vehicle_id)
    except Vehicle.DoesNotExist:
        raise VehicleNotFound(f"No vehicle has id {vehicle_id}.") from None


def _optional_position_check(latitude: Decimal | None, longitude: Decimal | None) -> None:
    if (latitude is None) != (longitude is None):
        field = "longitude" if longitude is None else "latitude"
        raise InvalidRequest("Give both latitude and longitude, or neither.", field=field)
    if latitude is not None and longitude is not None:
        position_check(latitude=latitude, longitude=longitude)


def _seats_check(seats: int) -> None:
    if not SEATS_MIN <= seats <= SEATS_MAX:
        raise InvalidRequest(
            f"A vehicle has between {SEATS_MIN} and {SEATS_MAX} seats.", field="seats"
        )


def _name_check(value: str, *, field: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidRequest(f"The {field} may not be blank.", field=field)
    if len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidRequest(f"The {field} has at most {NAME_MAX_LENGTH} characters.", field=field)
    return cleaned


def _held_by_check(vehicle: Vehicle, trip_id: UUID) -> None:
    """Refuse a trip step on a vehicle that ``trip_id`` does not hold, naming the holder."""
    if vehicle.current_trip_id == trip_id:
        return
    holder = (
        f"trip {vehicle.current_trip_id}"
        if vehicle.current_trip_id is not None
        else "no trip (it is not reserved for one)"
    )
    raise VehicleHeldByTrip(f"Vehicle {vehicle.vin} is held by {holder}, not by trip {trip_id}.")


def _status_change(
    *,
    vehicle: Vehicle,
    to_status: str,
    reason: str,
    changed_by_id: UUID | None,
    lifecycle: Lifecycle = VEHICLE_LIFECYCLE,
) -> Vehicle:
    """Move a locked ``vehicle`` to ``to_status`` if ``lifecycle`` allows it, with history.

    The vehicle's ``current_trip_id``, set or cleared by the caller, is saved with the status.
    """
    to_status = str(to_status)
    lifecycle.check(vehicle.status, to_status)
    from_status = vehicle.status
    now = timezone.now()
    vehicle.status = to_status
    vehicle.save(update_fields=["status", "current_trip_id", "updated_at"])
    VehicleStatusChange.objects.create(
        vehicle=vehicle,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        changed_by_id=changed_by_id,
        at=now,
    )
    publish(
        VehicleStatusChanged(
            vehicle_id=vehicle.id,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            changed_at=now,
        )
    )
    return vehicle


@module_atomic("vehicles")
def vehicle_register(
    *,
    vin: str,
    make: str,
    model: str,
    seats: int,
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    battery_pct: int = 100,
    vehicle_id: UUID | None = None,
) -> Vehicle:
    """Add a vehicle to the fleet as ``available``."""
    try:
        normalized = vin_normalize(vin)
    except InvalidVin as exc:
        raise InvalidRequest(str(exc), field="vin") from None
    make = _name_check(make, field="make")
    model = _name_check(model, field="model")
    _seats_check(seats)
    if not 0 <= battery_pct <= 100:
        raise InvalidRequest("Battery charge is a percentage, 0 to 100.", field="battery_pct")
    _optional_position_check(latitude, longitude)
    if Vehicle.objects.filter(vin=normalized).exists():
        raise InvalidRequest(f"A vehicle with VIN {normalized} is already registered.", field="vin")
    vehicle = Vehicle(
        vin=normalized,
        make=make,
        model=model,
        seats=seats,
        battery_pct=battery_pct,
        latitude=latitude,
        longitude=longitude,
    )
    if vehicle_id is not None:
        vehicle.id = vehicle_id
    try:
        # A savepoint, so a concurrent registration of the same VIN ends as a 400, not a 500.
        with module_atomic("vehicles"):
            vehicle.save(force_insert=True)
    except IntegrityError:
        raise InvalidRequest(
            f"A vehicle with VIN {normalized} is already registered.", field="vin"
        ) from None
    publish(
        VehicleRegistered(
            vehicle_id=vehicle.id,
            vin=vehicle.vin,
            seats=vehicle.seats,
            registered_at=timezone.now(),
        )
    )
    return vehicle


@module_atomic("vehicles")
def vehicle_update(
    *,
    vehicle_id: UUID,
    make: str | None = None,
    model: str | None = None,
    seats: int | None = None,
) -> Vehicle:
    """Correct a vehicle's description; its status, mileage and VIN are not edited this way."""
    vehicle = _vehicle_locked(vehicle_id)
    changed: list[str] = []
    if make is not None:
        vehicle.make = _name_check(make, field="make")
        changed.append("make")
    if model is not None:
        vehicle.model = _name_check(model, field="model")
        changed.append("model")
    if seats is not None:
        _seats_check(seats)
        vehicle.seats = seats
        changed.append("seats")
    if changed:
        vehicle.save(update_fields=[*changed, "updated_at"])
    return vehicle


@module_atomic("vehicles")
def vehicle_transition(
    *, vehicle_id: UUID, status: str, reason: str = "", changed_by_id: UUID | None = None
) -> Vehicle:
    """Move a vehicle to ``status`` by hand: staff, or a module reporting it went quiet.

    Only the lifecycle's manual steps are allowed (``IllegalTransition`` otherwise). A vehicle
    a trip holds may only be taken offline (``VehicleHeldByTrip`` otherwise): it is free again
    when its trip is completed, cancelled or interrupted, never because someone said so.
    Going offline publishes ``VehicleWentOffline`` naming the trip that still holds the
    vehicle, so trips can interrupt it.
    """
    if status not in VehicleStatus.values:
        raise InvalidRequest(
            f"{status!r} is not a vehicle status; use one of {', '.join(VehicleStatus.values)}.",
            field="status",
        )
    vehicle = _vehicle_locked(vehicle_id)
    if vehicle.current_trip_id is not None and status != VehicleStatus.OFFLINE:
        raise VehicleHeldByTrip(
            f"This vehicle is held by trip {vehicle.current_trip_id} ({vehicle.status!r}), so "
            f"it cannot go to {status!r} by hand; complete or cancel that trip first. "
            "Until then it may only be taken offline.",
            field="status",
        )
    from_status = vehicle.status
    vehicle = _status_change(
        vehicle=vehicle,
        to_status=status,
        reason=reason,
        changed_by_id=changed_by_id,
        lifecycle=MANUAL_LIFECYCLE,
    )
    if vehicle.status == VehicleStatus.OFFLINE:
        publish(
            VehicleWentOffline(
                vehicle_id=vehicle.id,
                # Going offline keeps the trip's hold: only the trip gives the vehicle back.
                trip_id=vehicle.current_trip_id,
                from_status=from_status,
                reason=reason,
                went_offline_at=vehicle.updated_at,
            )
        )
    return vehicle


def _reservation_check(*, latitude: Decimal, longitude: Decimal, seats: int) -> None:
    position_check(latitude=latitude, longitude=longitude)
    if seats < SEATS_MIN:
        raise InvalidRequest("Ask for at least one seat.", field="seats")


def _nearest_available(*, latitude: Decimal, longitude: Decimal, seats: int) -> Vehicle:
    """The nearest available vehicle with the seats and the charge, row-locked.

    Vehicles locked by a concurrent reservation are skipped rather than waited for, so two
    callers never get the same vehicle and neither blocks the other.
    """
    # Squared degrees are not kilometres, but over a city they order vehicles the same way.
    distance = ExpressionWrapper(
        (F("latitude") - Value(latitude)) * (F("latitude") - Value(latitude))
        + (F("longitude") - Value(longitude)) * (F("longitude") - Value(longitude)),
        output_field=DecimalField(),
    )
    vehicle = (
        Vehicle.objects.select_for_update(skip_locked=True)
        .filter(
            status=VehicleStatus.AVAILABLE,
            seats__gte=seats,
            battery_pct__gte=low_battery_pct(),
            latitude__isnull=False,
            longitude__isnull=False,
        )
        .annotate(distance=distance)
        .order_by("distance", "id")
        .first()
    )
    if vehicle is None:
        raise NoVehicleAvailable(
            f"No available vehicle with {seats} seat(s) and enough charge is free right now."
        )
    return vehicle


def _reserve(*, vehicle: Vehicle, trip_id: UUID, changed_by_id: UUID | None) -> Vehicle:
    vehicle.current_trip_id = trip_id
    return _status_change(
        vehicle=vehicle,
        to_status=VehicleStatus.RESERVED,
        reason=f"reserved for trip {trip_id}",
        changed_by_id=changed_by_id,
    )


@module_atomic("vehicles")
def vehicle_reserve_nearest(
    *,
    latitude: Decimal,
    longitude: Decimal,
    seats: int = 1,
    trip_id: UUID,
    changed_by_id: UUID | None = None,
) -> Vehicle:
    """Reserve the nearest available vehicle with the seats and the charge for ``trip_id``.

    Refuses (``VehicleHeldByTrip``) a trip that already holds a vehicle;
    ``vehicle_reserve_for_trip`` returns that vehicle instead.
    """
    _reservation_check(latitude=latitude, longitude=longitude, seats=seats)
    held = Vehicle.objects.filter(current_trip_id=trip_id).values_list("vin", flat=True).first()
    if held is not None:
        raise VehicleHeldByTrip(
            f"Trip {trip_id} already holds vehicle {held}; release it before reserving another."
        )
    vehicle = _nearest_available(latitude=latitude, longitude=longitude, seats=seats)
    return _reserve(vehicle=vehicle, trip_id=trip_id, changed_by_id=changed_by_id)


@module_atomic("vehicles")
def vehicle_reserve_for_trip(
    *,
    trip_id: UUID,
    latitude: Decimal,
    longitude: Decimal,
    seats: int = 1,
    changed_by_id: UUID | None = None,
) -> Vehicle:
    """The vehicle ``trip_id`` holds, or else the nearest available one, reserved for it.

    Idempotent per trip: a repeated call (a retried booking step, a second worker resuming
    the same booking) returns the vehicle the first one reserved and changes nothing.
    """
    _reservation_check(latitude=latitude, longitude=longitude, seats=seats)
    held = Vehicle.objects.select_for_update().filter(current_trip_id=trip_id).first()
    if held is not None:
        return held
    vehicle = _nearest_available(latitude=latitude, longitude=longitude, seats=seats)
    try:
        # A savepoint: a concurrent call for the same trip that committed first wins the
        # one-vehicle-per-trip constraint, and this call returns the winner's vehicle.
        with module_atomic("vehicles"):
            return _reserve(vehicle=vehicle, trip_id=trip_id, changed_by_id=changed_by_id)
    except IntegrityError as exc:
        if "vehicles_one_vehicle_per_trip" not in str(exc):
            raise
    return Vehicle.objects.select_for_update().get(current_trip_id=trip_id)


def _release(*, vehicle: Vehicle, trip_id: UUID, changed_by_id: UUID | None) -> Vehicle:
    """Free a locked ``vehicle`` that ``trip_id`` holds and that has not set off."""
    if vehicle.status == VehicleStatus.IN_TRIP:
        raise IllegalTransition(
            f"Vehicle {vehicle.vin} is 'in_trip' for trip {trip_id}, so it cannot go to "
            "'available' by a release; a started trip ends instead.",
            field="status",
        )
    vehicle.current_trip_id = None
    if vehicle.status == VehicleStatus.OFFLINE:
        # It stopped answering while reserved; it stays offline until staff bring it back.
        vehicle.save(update_fields=["current_trip_id", "updated_at"])
        return vehicle
    return _status_change(
        vehicle=vehicle,
        to_status=VehicleStatus.AVAILABLE,
        reason=f"released by trip {trip_id}",
        changed_by_id=changed_by_id,
    )


@module_atomic("vehicles")
def vehicle_release(
    *, vehicle_id: UUID, trip_id: UUID, changed_by_id: UUID | None = None
) -> Vehicle:
    """``trip_id`` gives its reserved vehicle back; a vehicle it does not hold is left alone.

    A vehicle that went offline while reserved stays offline, no longer held.
    """
    vehicle = _vehicle_locked(vehicle_id)
    if vehicle.current_trip_id != trip_id:
        return vehicle
    return _release(vehicle=vehicle, trip_id=trip_id, changed_by_id=changed_by_id)


@module_atomic("vehicles")
def vehicle_release_for_trip(*, trip_id: UUID, changed_by_id: UUID | None = None) -> Vehicle | None:
    """Give back whatever vehicle ``trip_id`` holds; ``None`` when it holds none.

    For a caller that may not know which vehicle was reserved (a booking undone after a
    crash): releasing again, or for a trip that never got a vehicle, changes nothing.
    """
    vehicle = Vehicle.objects.select_for_update().filter(current_trip_id=trip_id).first()
    if vehicle is None:
        return None
    return _release(vehicle=vehicle, trip_id=trip_id, changed_by_id=changed_by_id)


@module_atomic("vehicles")
def vehicle_start_trip(
    *, vehicle_id: UUID, trip_id: UUID, changed_by_id: UUID | None = None
) -> Vehicle:
    """The vehicle reserved for ``trip_id`` sets off."""
    vehicle = _vehicle_locked(vehicle_id)
    _held_by_check(vehicle, trip_id)
    return _status_change(
        vehicle=vehicle,
        to_status=VehicleStatus.IN_TRIP,
        reason=f"trip {trip_id} started",
        changed_by_id=changed_by_id,
    )


@module_atomic("vehicles")
def vehicle_end_trip(
    *, vehicle_id: UUID, trip_id: UUID, distance_km: Decimal, changed_by_id: UUID | None = None
) -> Vehicle:
    """``trip_id`` is over: its vehicle is free again and its odometer grows by the distance.

    The vehicle becomes available, unless it went offline during the trip: then it stays
    offline, no longer held, until staff bring it back.
    """
    if not distance_km.is_finite() or distance_km < 0:
        raise InvalidRequest(
            "A trip's distance is a number of kilometres, 0 or more.", field="distance_km"
        )
    vehicle = _vehicle_locked(vehicle_id)
    _held_by_check(vehicle, trip_id)
    if vehicle.status == VehicleStatus.RESERVED:
        raise IllegalTransition(
            f"Only a vehicle in a trip can end one: vehicle {vehicle.vin} is 'reserved', "
            "so it cannot go to 'available' by ending a trip; release it instead.",
            field="status",
        )
    odometer = vehicle.odometer_km + distance_km.quantize(ODOMETER_STEP, rounding=ROUND_HALF_UP)
    if odometer > ODOMETER_MAX_KM:
        raise InvalidRequest(
            f"{distance_km} km would take the odometer past {ODOMETER_MAX_KM} km.",
            field="distance_km",
        )
    vehicle.odometer_km = odometer
    vehicle.current_trip_id = None
    if vehicle.status == VehicleStatus.OFFLINE:
        # It stopped answering mid-way; it stays offline until staff bring it back.
        vehicle.save(update_fields=["odometer_km", "current_trip_id", "updated_at"])
        return vehicle
    vehicle.save(update_fields=["odometer_km", "updated_at"])
    return _status_change(
        vehicle=vehicle,
        to_status=VehicleStatus.AVAILABLE,
        reason=f"trip {trip_id} ended after {distance_km} km",
        changed_by_id=changed_by_id,
    )


@module_atomic("vehicles")
def firmware_release_create(
    *, version: str, notes: str = "", released_at: datetime | None = None
) -> FirmwareRelease:
    """Publish a firmware release under a semantic version that no other release uses."""
    version = version.strip()
    try:
        semver_validator(version)
    except DjangoValidationError as exc:
        raise InvalidRequest(exc.messages[0], field="version") from None
    if FirmwareRelease.objects.filter(version=version).exists():
        raise InvalidRequest(f"Firmware {version} is already released.", field="version")
    release = FirmwareRelease(
        version=version, notes=notes, released_at=released_at or timezone.now()
    )
    try:
        with module_atomic("vehicles"):
            release.save(force_insert=True)
    except IntegrityError:
        raise InvalidRequest(f"Firmware {version} is already released.", field="version") from None
    return release


@module_atomic("vehicles")
def vehicle_firmware_assign(
    *, vehicle_id: UUID, version: str, installed_by_id: UUID | None = None
) -> Vehicle:
    """Record that a vehicle now runs firmware ``version``; assigning the current one is a no-op."""
    vehicle = _vehicle_locked(vehicle_id)
    release = FirmwareRelease.objects.filter(version=version.strip()).first()
    if release is None:
        raise InvalidRequest(f"No firmware release has version {version!r}.", field="version")
    if vehicle.firmware_id == release.id:
        vehicle.firmware = release
        return vehicle
    FirmwareInstall.objects.create(
        vehicle=vehicle,
        firmware=release,
        previous_firmware_id=vehicle.firmware_id,
        installed_by_id=installed_by_id,
    )
    vehicle.firmware = release
    vehicle.save(update_fields=["firmware", "updated_at"])
    return vehicle


def _reading_problems(reading: TelemetryInput, *, latest_allowed: datetime) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if timezone.is_naive(reading.recorded_at):
        problems["recorded_at"] = ["Give the time with its timezone."]
    elif reading.recorded_at > latest_allowed:
        problems["recorded_at"] = ["This time is in the future; check the vehicle's clock."]
    for field, value, limit in (
        ("latitude", reading.latitude, LATITUDE_LIMIT),
        ("longitude", reading.longitude, LONGITUDE_LIMIT),
    ):
        try:
            coordinate_check(value=value, limit=limit, field=field)
        except InvalidRequest as exc:
            problems[field] = [exc.message]
    if not 0 <= reading.battery_pct <= 100:
        problems["battery_pct"] = ["Battery charge is a percentage, 0 to 100."]
    if not reading.odometer_km.is_finite() or not 0 <= reading.odometer_km <= ODOMETER_MAX_KM:
        problems["odometer_km"] = [f"An odometer reads between 0 and {ODOMETER_MAX_KM} km."]
    if reading.speed_kph is not None and (
        not reading.speed_kph.is_finite() or not 0 <= reading.speed_kph <= SPEED_MAX_KPH
    ):
        problems["speed_kph"] = [f"A speed is between 0 and {SPEED_MAX_KPH} km/h."]
    return problems


def _reading_rounded(reading: TelemetryInput) -> TelemetryInput:
    """The reading at the precision it is stored with (sensors send long floats)."""
    return replace(
        reading,
        odometer_km=reading.odometer_km.quantize(ODOMETER_STEP, rounding=ROUND_HALF_UP),
        speed_kph=None
        if reading.speed_kph is None
        else reading.speed_kph.quantize(SPEED_STEP, rounding=ROUND_HALF_UP),
    )


@module_atomic("vehicles")
def vehicle_telemetry_ingest(*, vehicle_id: UUID, readings: Sequence[TelemetryInput]) -> int:
    """Store a batch of readings from one vehicle and bring its live state up to date.

    Readings may arrive in any order; the newest one sets the vehicle's position, charge and
    heartbeat. The odometer never goes backwards: a reading below the vehicle's odometer, or
    below a reading recorded before it in the same batch, rejects the whole batch (nothing is
    stored) with the reason at that reading's index. Returns how many readings were stored.
    """
    if not 1 <= len(readings) <= TELEMETRY_BATCH_MAX:
        raise InvalidRequest(
            f"Send between 1 and {TELEMETRY_BATCH_MAX} readings at a time.", field="readings"
        )
    vehicle = _vehicle_locked(vehicle_id)
    latest_allowed = timezone.now() + TELEMETRY_CLOCK_SKEW
    errors = [_reading_problems(reading, latest_allowed=latest_allowed) for reading in readings]
    if any(errors):
        raise TelemetryRejected(errors)
    readings = [_reading_rounded(reading) for reading in readings]

    in_time_order = sorted(range(len(readings)), key=lambda index: readings[index].recorded_at)
    highest = vehicle.odometer_km
    highest_from: int | None = None
    for index in in_time_order:
        odometer = readings[index].odometer_km
        if odometer < highest:
            source = (
                f"the vehicle's odometer of {highest} km"
                if highest_from is None
                else f"{highest} km, reported earlier at index {highest_from}"
            )
            errors[index]["odometer_km"] = [
                f"{odometer} km is below {source}; an odometer never goes backwards."
            ]
        else:
            highest, highest_from = odometer, index
    if any(errors):
        raise TelemetryRejected(errors)

    TelemetryReading.objects.bulk_create(
        [
            TelemetryReading(
                vehicle=vehicle,
                recorded_at=reading.recorded_at,
                latitude=reading.latitude,
                longitude=reading.longitude,
                battery_pct=reading.battery_pct,
                odometer_km=reading.odometer_km,
                speed_kph=reading.speed_kph,
            )
            for reading in readings
        ]
    )

    newest = readings[in_time_order[-1]]
    changed = ["odometer_km", "updated_at"]
    vehicle.odometer_km = highest
    # A late batch (older than what the vehicle already said) is history, not its live state.
    if vehicle.last_heartbeat_at is None or newest.recorded_at >= vehicle.last_heartbeat_at:
        vehicle.latitude = newest.latitude
        vehicle.longitude = newest.longitude
        vehicle.battery_pct = newest.battery_pct
        vehicle.last_heartbeat_at = newest.recorded_at
        changed += ["latitude", "longitude", "battery_pct", "last_heartbeat_at"]
    vehicle.save(update_fields=changed)
    return len(readings)
