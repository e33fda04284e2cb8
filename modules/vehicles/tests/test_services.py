import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from modules.vehicles import services
from modules.vehicles.errors import (
    NoVehicleAvailable,
    TelemetryRejected,
    VehicleHeldByTrip,
    VehicleNotFound,
)
from modules.vehicles.events import VehicleStatusChanged
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import (
    FirmwareInstall,
    FirmwareRelease,
    TelemetryReading,
    Vehicle,
    VehicleStatusChange,
)
from modules.vehicles.services import TelemetryInput
from modules.vehicles.tests.conftest import make_vin
from monolith.platform.errors import IllegalTransition, InvalidRequest
from monolith.platform.outbox.machinery import outbox_published

pytestmark = pytest.mark.django_db

MakeVehicle = Callable[..., Vehicle]


def reading(minutes_ago: float, odometer: str, **fields: Any) -> TelemetryInput:
    fields.setdefault("latitude", Decimal("52.5"))
    fields.setdefault("longitude", Decimal("13.4"))
    fields.setdefault("battery_pct", 80)
    return TelemetryInput(
        recorded_at=timezone.now() - timedelta(minutes=minutes_ago),
        odometer_km=Decimal(odometer),
        **fields,
    )


class TestRegister:
    def test_registers_available_with_normalized_vin(self) -> None:
        vehicle = services.vehicle_register(
            vin=make_vin(7).lower(), make=" Zoox ", model="Robotaxi", seats=4
        )
        vehicle.refresh_from_db()
        assert vehicle.vin == make_vin(7)
        assert vehicle.make == "Zoox"
        assert vehicle.status == VehicleStatus.AVAILABLE
        assert vehicle.battery_pct == 100
        assert vehicle.odometer_km == Decimal("0")
        assert vehicle.latitude is None

    def test_bad_vin_names_the_field(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_register(vin="1M8GDM9A1KP042788", make="A", model="B", seats=4)
        assert caught.value.field == "vin"
        assert not Vehicle.objects.exists()

    def test_duplicate_vin_is_refused(self, make_vehicle: MakeVehicle) -> None:
        existing = make_vehicle()
        with pytest.raises(InvalidRequest, match="already registered") as caught:
            services.vehicle_register(vin=existing.vin.lower(), make="A", model="B", seats=2)
        assert caught.value.field == "vin"

    @pytest.mark.parametrize("seats", [0, 10])
    def test_seats_out_of_range(self, seats: int) -> None:
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_register(vin=make_vin(8), make="A", model="B", seats=seats)
        assert caught.value.field == "seats"

    @pytest.mark.parametrize(
        ("latitude", "longitude", "field"),
        [
            (Decimal("91"), Decimal("0"), "latitude"),
            (Decimal("0"), Decimal("-180.5"), "longitude"),
            (Decimal("10"), None, "longitude"),
        ],
    )
    def test_position_is_range_checked(
        self, latitude: Decimal, longitude: Decimal | None, field: str
    ) -> None:
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_register(
                vin=make_vin(9),
                make="A",
                model="B",
                seats=2,
                latitude=latitude,
                longitude=longitude,
            )
        assert caught.value.field == field

    def test_blank_make_is_refused(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_register(vin=make_vin(10), make="  ", model="B", seats=2)
        assert caught.value.field == "make"

    def test_battery_out_of_range(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_register(
                vin=make_vin(11), make="A", model="B", seats=2, battery_pct=101
            )
        assert caught.value.field == "battery_pct"


class TestTransition:
    def test_records_history_and_publishes(self, make_vehicle: MakeVehicle, staff: Any) -> None:
        vehicle = make_vehicle()
        services.vehicle_transition(
            vehicle_id=vehicle.id, status="maintenance", reason="brakes", changed_by_id=staff.id
        )
        seen = outbox_published("vehicles", VehicleStatusChanged)
        vehicle.refresh_from_db()
        assert vehicle.status == "maintenance"
        change = VehicleStatusChange.objects.get(vehicle=vehicle)
        assert (change.from_status, change.to_status, change.reason) == (
            "available",
            "maintenance",
            "brakes",
        )
        assert change.changed_by_id == staff.id
        assert [(e.from_status, e.to_status) for e in seen] == [("available", "maintenance")]

    def test_illegal_transition_changes_nothing(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="maintenance")
        with pytest.raises(IllegalTransition, match="'maintenance' to 'charging'"):
            services.vehicle_transition(vehicle_id=vehicle.id, status="charging")
        vehicle.refresh_from_db()
        assert vehicle.status == "maintenance"
        assert not VehicleStatusChange.objects.exists()

    @pytest.mark.parametrize("status", ["available", "maintenance", "charging"])
    @pytest.mark.parametrize("held_as", ["reserved", "in_trip", "offline"])
    def test_a_held_vehicle_only_goes_offline_by_hand(
        self, make_vehicle: MakeVehicle, held_as: str, status: str
    ) -> None:
        """Only the trip holding a vehicle frees it; staff cannot hand it to another trip."""
        vehicle = make_vehicle(status="in_trip" if held_as == "offline" else held_as)
        if held_as == "offline":
            services.vehicle_transition(vehicle_id=vehicle.id, status="offline")
        changes = VehicleStatusChange.objects.count()
        with pytest.raises(VehicleHeldByTrip) as caught:
            services.vehicle_transition(vehicle_id=vehicle.id, status=status)
        assert caught.value.status == 409
        assert f"held by trip {vehicle.current_trip_id}" in caught.value.message
        assert caught.value.field == "status"
        vehicle.refresh_from_db()
        assert vehicle.status == held_as
        assert VehicleStatusChange.objects.count() == changes

    @pytest.mark.parametrize("held_as", ["reserved", "in_trip"])
    def test_a_held_vehicle_may_be_taken_offline(
        self, make_vehicle: MakeVehicle, held_as: str
    ) -> None:
        vehicle = make_vehicle(status=held_as)
        services.vehicle_transition(vehicle_id=vehicle.id, status="offline", reason="no signal")
        trip_id = vehicle.current_trip_id
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == ("offline", trip_id)

    @pytest.mark.parametrize("wanted", ["reserved", "in_trip"])
    def test_never_enters_a_trip_status_by_hand(
        self, make_vehicle: MakeVehicle, wanted: str
    ) -> None:
        vehicle = make_vehicle()
        with pytest.raises(IllegalTransition, match="by hand"):
            services.vehicle_transition(vehicle_id=vehicle.id, status=wanted)
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == ("available", None)

    def test_unknown_status_is_invalid(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_transition(vehicle_id=vehicle.id, status="flying")
        assert caught.value.field == "status"

    def test_unknown_vehicle(self) -> None:
        with pytest.raises(VehicleNotFound):
            services.vehicle_transition(vehicle_id=uuid.uuid4(), status="offline")


class TestUpdate:
    def test_updates_description_only(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        services.vehicle_update(vehicle_id=vehicle.id, model="Robotaxi 2", seats=6)
        vehicle.refresh_from_db()
        assert (vehicle.make, vehicle.model, vehicle.seats) == ("Zoox", "Robotaxi 2", 6)

    def test_bad_seats(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        with pytest.raises(InvalidRequest):
            services.vehicle_update(vehicle_id=vehicle.id, seats=12)


def reserve(trip_id: uuid.UUID | None = None, **fields: Any) -> Vehicle:
    fields.setdefault("latitude", Decimal("52.52"))
    fields.setdefault("longitude", Decimal("13.40"))
    return services.vehicle_reserve_nearest(trip_id=trip_id or uuid.uuid4(), **fields)


class TestTrips:
    def test_reserve_picks_nearest_fitting_vehicle(self, make_vehicle: MakeVehicle) -> None:
        far = make_vehicle(latitude=Decimal("48.1"), longitude=Decimal("11.5"))
        near = make_vehicle(latitude=Decimal("52.51"), longitude=Decimal("13.40"))
        make_vehicle(latitude=Decimal("52.52"), longitude=Decimal("13.40"), seats=2)
        make_vehicle(latitude=Decimal("52.52"), longitude=Decimal("13.40"), battery_pct=19)
        make_vehicle(status="charging", latitude=Decimal("52.52"), longitude=Decimal("13.40"))
        make_vehicle(latitude=None, longitude=None)
        trip_id = uuid.uuid4()

        reserved = reserve(trip_id, seats=4)
        assert reserved.id == near.id
        near.refresh_from_db()
        assert (near.status, near.current_trip_id) == ("reserved", trip_id)
        change = VehicleStatusChange.objects.get(vehicle=near)
        assert change.to_status == "reserved"
        assert str(trip_id) in change.reason

        assert reserve(seats=4).id == far.id
        with pytest.raises(NoVehicleAvailable):
            reserve(seats=4)

    def test_battery_exactly_at_threshold_is_reservable(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(battery_pct=20)
        assert reserve(latitude=Decimal(0), longitude=Decimal(0)).id == vehicle.id

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"latitude": Decimal("1e25")}, "latitude"),
            ({"longitude": Decimal("-181")}, "longitude"),
            ({"seats": 0}, "seats"),
        ],
    )
    def test_reserve_checks_its_input(
        self, make_vehicle: MakeVehicle, fields: dict[str, Any], field: str
    ) -> None:
        make_vehicle()
        with pytest.raises(InvalidRequest) as caught:
            reserve(**fields)
        assert caught.value.field == field

    def test_full_trip_grows_odometer(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="reserved")
        trip_id = vehicle.current_trip_id
        assert trip_id is not None
        services.vehicle_start_trip(vehicle_id=vehicle.id, trip_id=trip_id)
        services.vehicle_end_trip(
            vehicle_id=vehicle.id, trip_id=trip_id, distance_km=Decimal("12.345")
        )
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == ("available", None)
        assert vehicle.odometer_km == Decimal("12.35")
        steps = list(
            VehicleStatusChange.objects.filter(vehicle=vehicle)
            .order_by("at")
            .values_list("from_status", "to_status")
        )
        assert steps == [("reserved", "in_trip"), ("in_trip", "available")]

    def test_start_trip_needs_reservation(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="reserved")
        trip_id = vehicle.current_trip_id
        assert trip_id is not None
        services.vehicle_transition(vehicle_id=vehicle.id, status="offline")
        with pytest.raises(IllegalTransition, match="'offline' to 'in_trip'"):
            services.vehicle_start_trip(vehicle_id=vehicle.id, trip_id=trip_id)

    def test_end_trip_needs_trip(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="reserved")
        assert vehicle.current_trip_id is not None
        with pytest.raises(IllegalTransition, match="'reserved'"):
            services.vehicle_end_trip(
                vehicle_id=vehicle.id, trip_id=vehicle.current_trip_id, distance_km=Decimal(1)
            )
        vehicle.refresh_from_db()
        assert vehicle.odometer_km == 0

    @pytest.mark.parametrize("distance", ["-1", "NaN", "Infinity", "99999999"])
    def test_end_trip_refuses_a_bad_distance(
        self, make_vehicle: MakeVehicle, distance: str
    ) -> None:
        vehicle = make_vehicle(status="in_trip")
        assert vehicle.current_trip_id is not None
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_end_trip(
                vehicle_id=vehicle.id,
                trip_id=vehicle.current_trip_id,
                distance_km=Decimal(distance),
            )
        assert caught.value.field == "distance_km"

    def test_trip_ending_while_offline_leaves_it_offline(self, make_vehicle: MakeVehicle) -> None:
        """The odometer grows and the trip lets go, but the vehicle still is not answering."""
        vehicle = make_vehicle(status="in_trip")
        trip_id = vehicle.current_trip_id
        assert trip_id is not None
        services.vehicle_transition(vehicle_id=vehicle.id, status="offline")
        services.vehicle_end_trip(vehicle_id=vehicle.id, trip_id=trip_id, distance_km=Decimal(4))
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == ("offline", None)
        assert vehicle.odometer_km == Decimal("4.00")
        services.vehicle_transition(vehicle_id=vehicle.id, status="available")
        vehicle.refresh_from_db()
        assert vehicle.status == "available"

    def test_release_is_idempotent(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="reserved")
        assert vehicle.current_trip_id is not None
        services.vehicle_release(vehicle_id=vehicle.id, trip_id=vehicle.current_trip_id)
        services.vehicle_release(vehicle_id=vehicle.id, trip_id=vehicle.current_trip_id)
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == ("available", None)
        assert VehicleStatusChange.objects.filter(vehicle=vehicle).count() == 1

    def test_release_while_offline_leaves_it_offline(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="reserved")
        trip_id = vehicle.current_trip_id
        assert trip_id is not None
        services.vehicle_transition(vehicle_id=vehicle.id, status="offline")
        services.vehicle_release(vehicle_id=vehicle.id, trip_id=trip_id)
        vehicle.refresh_from_db()
        assert (vehicle.status, vehicle.current_trip_id) == ("offline", None)

    def test_release_refuses_vehicle_in_trip(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle(status="in_trip")
        assert vehicle.current_trip_id is not None
        with pytest.raises(IllegalTransition, match="'in_trip'"):
            services.vehicle_release(vehicle_id=vehicle.id, trip_id=vehicle.current_trip_id)


class TestFirmware:
    def test_create_and_assign_records_install(self, make_vehicle: MakeVehicle, staff: Any) -> None:
        vehicle = make_vehicle()
        first = services.firmware_release_create(version="1.4.2", notes="fixes")
        second = services.firmware_release_create(version="1.5.0-rc.1")
        services.vehicle_firmware_assign(vehicle_id=vehicle.id, version="1.4.2")
        services.vehicle_firmware_assign(
            vehicle_id=vehicle.id, version="1.5.0-rc.1", installed_by_id=staff.id
        )
        services.vehicle_firmware_assign(vehicle_id=vehicle.id, version="1.5.0-rc.1")
        vehicle.refresh_from_db()
        assert vehicle.firmware == second
        installs = list(FirmwareInstall.objects.order_by("installed_at"))
        assert [(i.previous_firmware, i.firmware) for i in installs] == [
            (None, first),
            (first, second),
        ]
        assert [i.installed_by_id for i in installs] == [None, staff.id]

    @pytest.mark.parametrize("version", ["1.4", "v1.4.2", "01.2.3", "1.2.3-", "latest"])
    def test_version_must_be_semver(self, version: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            services.firmware_release_create(version=version)
        assert caught.value.field == "version"
        assert not FirmwareRelease.objects.exists()

    def test_version_is_unique(self) -> None:
        services.firmware_release_create(version="2.0.0")
        with pytest.raises(InvalidRequest, match="already released"):
            services.firmware_release_create(version="2.0.0")

    def test_unknown_version_cannot_be_assigned(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_firmware_assign(vehicle_id=vehicle.id, version="9.9.9")
        assert caught.value.field == "version"


class TestTelemetry:
    def test_newest_reading_sets_live_state_whatever_the_order(
        self, make_vehicle: MakeVehicle
    ) -> None:
        vehicle = make_vehicle()
        newest = reading(1, "105", battery_pct=71, latitude=Decimal("52.6"))
        stored = services.vehicle_telemetry_ingest(
            vehicle_id=vehicle.id,
            readings=[reading(3, "101", battery_pct=75), newest, reading(2, "103", battery_pct=73)],
        )
        assert stored == 3
        assert TelemetryReading.objects.filter(vehicle=vehicle).count() == 3
        vehicle.refresh_from_db()
        assert vehicle.battery_pct == 71
        assert vehicle.latitude == Decimal("52.6")
        assert vehicle.odometer_km == Decimal("105")
        assert vehicle.last_heartbeat_at == newest.recorded_at

    def test_late_batch_is_stored_but_does_not_rewind_live_state(
        self, make_vehicle: MakeVehicle
    ) -> None:
        vehicle = make_vehicle()
        services.vehicle_telemetry_ingest(
            vehicle_id=vehicle.id, readings=[reading(1, "100", battery_pct=50)]
        )
        services.vehicle_telemetry_ingest(
            vehicle_id=vehicle.id, readings=[reading(10, "100", battery_pct=90)]
        )
        vehicle.refresh_from_db()
        assert vehicle.battery_pct == 50
        assert TelemetryReading.objects.filter(vehicle=vehicle).count() == 2

    def test_odometer_below_current_rejects_the_batch(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        services.vehicle_telemetry_ingest(vehicle_id=vehicle.id, readings=[reading(5, "500")])
        with pytest.raises(TelemetryRejected) as caught:
            services.vehicle_telemetry_ingest(
                vehicle_id=vehicle.id, readings=[reading(1, "501"), reading(0, "499.99")]
            )
        assert caught.value.errors[0] == {}
        assert "never goes backwards" in caught.value.errors[1]["odometer_km"][0]
        assert TelemetryReading.objects.filter(vehicle=vehicle).count() == 1
        vehicle.refresh_from_db()
        assert vehicle.odometer_km == Decimal("500")

    def test_odometer_going_backwards_within_a_batch(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        with pytest.raises(TelemetryRejected) as caught:
            services.vehicle_telemetry_ingest(
                vehicle_id=vehicle.id,
                # Index 0 is the latest reading, yet shows less than index 1 recorded before it.
                readings=[reading(1, "10"), reading(2, "20")],
            )
        assert list(caught.value.errors[0]) == ["odometer_km"]
        assert "index 1" in caught.value.errors[0]["odometer_km"][0]
        assert caught.value.errors[1] == {}

    def test_future_reading_is_refused(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        with pytest.raises(TelemetryRejected) as caught:
            services.vehicle_telemetry_ingest(
                vehicle_id=vehicle.id, readings=[reading(0, "1"), reading(-60, "2")]
            )
        assert caught.value.errors[0] == {}
        assert list(caught.value.errors[1]) == ["recorded_at"]

    def test_field_ranges_are_checked(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        with pytest.raises(TelemetryRejected) as caught:
            services.vehicle_telemetry_ingest(
                vehicle_id=vehicle.id,
                readings=[
                    reading(0, "1", battery_pct=120, latitude=Decimal("95")),
                    reading(0, "1e40", longitude=Decimal("1e25"), speed_kph=Decimal("Infinity")),
                ],
            )
        assert set(caught.value.errors[0]) == {"battery_pct", "latitude"}
        assert set(caught.value.errors[1]) == {"odometer_km", "longitude", "speed_kph"}

    def test_long_sensor_values_are_stored_rounded(self, make_vehicle: MakeVehicle) -> None:
        vehicle = make_vehicle()
        services.vehicle_telemetry_ingest(
            vehicle_id=vehicle.id,
            readings=[reading(1, "100.456000001", speed_kph=Decimal("31.4000000002"))],
        )
        stored = TelemetryReading.objects.get()
        assert (stored.odometer_km, stored.speed_kph) == (Decimal("100.46"), Decimal("31.4"))
        vehicle.refresh_from_db()
        assert vehicle.odometer_km == Decimal("100.46")

    @pytest.mark.parametrize("size", [0, 501])
    def test_batch_size_is_bounded(self, make_vehicle: MakeVehicle, size: int) -> None:
        vehicle = make_vehicle()
        with pytest.raises(InvalidRequest) as caught:
            services.vehicle_telemetry_ingest(
                vehicle_id=vehicle.id, readings=[reading(1, "1")] * size
            )
        assert caught.value.field == "readings"

    def test_unknown_vehicle(self) -> None:
        with pytest.raises(VehicleNotFound):
            services.vehicle_telemetry_ingest(vehicle_id=uuid.uuid4(), readings=[reading(1, "1")])
