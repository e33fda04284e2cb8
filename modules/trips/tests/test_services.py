"""Trip services: the rules every caller (REST, admin, other modules) gets."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone

from modules.trips import services
from modules.trips.errors import ActiveTripExists, TripNotFound, TripNotInProgress
from modules.trips.events import TripCompleted
from modules.trips.models import Trip, TripPosition, TripStatus
from modules.trips.tests.conftest import DESTINATION, ORIGIN, ROUTE
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
from monolith.platform.errors import Conflict, IllegalTransition, InvalidRequest
from monolith.platform.outbox.machinery import outbox_published
from monolith.platform.registry import module_atomic

pytestmark = pytest.mark.django_db


def completed_events() -> list[TripCompleted]:
    """The ``TripCompleted`` events in the trips outbox, oldest first."""
    return outbox_published("trips", TripCompleted)


# --- trip_request ---------------------------------------------------------------------------


def test_request_assigns_and_reserves_a_vehicle(rider: Any, vehicle: Any) -> None:
    trip = services.trip_request(rider_id=rider.id, **ROUTE)

    trip.refresh_from_db()
    assert trip.status == TripStatus.ASSIGNED
    assert trip.rider_id == rider.id
    assert trip.vehicle_id == vehicle.id
    assert trip.assigned_at is not None
    assert trip.requested_at <= trip.assigned_at
    assert trip.origin_latitude == ORIGIN["origin_latitude"]
    assert trip.destination_longitude == DESTINATION["destination_longitude"]
    reserved = vehicles_api.vehicle_get(vehicle_id=vehicle.id)
    assert (reserved.status, reserved.current_trip_id) == ("reserved", trip.id)


def test_request_takes_the_vehicle_nearest_the_origin(
    rider: Any, make_vehicle: Callable[..., Any]
) -> None:
    far = make_vehicle(latitude=Decimal("52.400000"), longitude=Decimal("13.100000"))
    near = make_vehicle(latitude=Decimal("52.521000"), longitude=Decimal("13.413000"))

    trip = services.trip_request(rider_id=rider.id, **ROUTE)

    assert trip.vehicle_id == near.id
    assert vehicles_api.vehicle_get(vehicle_id=far.id).status == "available"


def test_only_riders_may_request(staff: Any, vehicle: Any) -> None:
    with pytest.raises(users_api.RiderNotFound):
        services.trip_request(rider_id=staff.id, **ROUTE)

    assert not Trip.objects.exists()
    assert vehicles_api.vehicle_get(vehicle_id=vehicle.id).status == "available"


def test_a_deactivated_rider_cannot_request(make_user: Callable[..., Any], vehicle: Any) -> None:
    gone = make_user("rider-gone", Role.RIDER, is_active=False)

    with pytest.raises(Conflict) as caught:
        services.trip_request(rider_id=gone.id, **ROUTE)

    assert "deactivated" in caught.value.message
    assert not Trip.objects.exists()


def test_request_without_a_vehicle_fails_and_stores_nothing(rider: Any) -> None:
    with pytest.raises(vehicles_api.NoVehicleAvailable) as caught:
        services.trip_request(rider_id=rider.id, **ROUTE)

    assert caught.value.status == 409
    assert not Trip.objects.exists()


def test_request_when_every_vehicle_is_taken_stores_nothing(
    rider: Any, other_rider: Any, vehicle: Any
) -> None:
    services.trip_request(rider_id=other_rider.id, **ROUTE)

    with pytest.raises(vehicles_api.NoVehicleAvailable):
        services.trip_request(rider_id=rider.id, **ROUTE)

    assert list(Trip.objects.values_list("rider_id", flat=True)) == [other_rider.id]


def test_a_rider_has_at_most_one_active_trip(rider: Any, make_vehicle: Callable[..., Any]) -> None:
    first = make_vehicle()
    second = make_vehicle()
    services.trip_request(rider_id=rider.id, **ROUTE)

    with pytest.raises(ActiveTripExists) as caught:
        services.trip_request(rider_id=rider.id, **ROUTE)

    assert caught.value.status == 409
    assert Trip.objects.filter(rider_id=rider.id).count() == 1
    statuses = {vehicles_api.vehicle_get(vehicle_id=v.id).status for v in (first, second)}
    assert statuses == {"reserved", "available"}


def test_an_in_progress_trip_also_blocks_a_new_request(
    running_trip: Trip, make_vehicle: Callable[..., Any]
) -> None:
    make_vehicle()
    with pytest.raises(ActiveTripExists):
        services.trip_request(rider_id=running_trip.rider_id, **ROUTE)


def test_after_cancelling_a_rider_may_request_again(assigned_trip: Trip) -> None:
    services.trip_cancel(
        trip_id=assigned_trip.id, reason="rider_changed_mind", cancelled_by="rider"
    )

    again = services.trip_request(rider_id=assigned_trip.rider_id, **ROUTE)

    assert again.status == TripStatus.ASSIGNED
    assert again.vehicle_id == assigned_trip.vehicle_id


def test_the_database_refuses_a_second_active_trip(assigned_trip: Trip) -> None:
    """The partial unique index holds even if two requests slip past the service's check."""
    with pytest.raises(IntegrityError), module_atomic("trips"):
        Trip.objects.create(rider_id=assigned_trip.rider_id, status=TripStatus.REQUESTED, **ROUTE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("origin_latitude", Decimal("90.000001")),
        ("origin_longitude", Decimal("-180.5")),
        ("destination_latitude", Decimal("-91")),
        ("destination_longitude", Decimal("181")),
        ("origin_latitude", Decimal("52.1234567")),
    ],
)
def test_request_rejects_bad_coordinates(
    rider: Any, vehicle: Any, field: str, value: Decimal
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.trip_request(rider_id=rider.id, **{**ROUTE, field: value})

    assert caught.value.field == field
    assert not Trip.objects.exists()
    assert vehicles_api.vehicle_get(vehicle_id=vehicle.id).status == "available"


def test_request_rejects_origin_equal_to_destination(rider: Any, vehicle: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.trip_request(
            rider_id=rider.id,
            **ORIGIN,
            destination_latitude=ORIGIN["origin_latitude"],
            destination_longitude=ORIGIN["origin_longitude"],
        )

    assert caught.value.field == "destination_latitude"


# --- trip_start -----------------------------------------------------------------------------


def test_start_puts_trip_and_vehicle_in_progress(assigned_trip: Trip) -> None:
    trip = services.trip_start(trip_id=assigned_trip.id)

    trip.refresh_from_db()
    assert trip.status == TripStatus.IN_PROGRESS
    assert trip.started_at is not None
    assert trip.vehicle_id is not None
    vehicle = vehicles_api.vehicle_get(vehicle_id=trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("in_trip", trip.id)


def test_start_twice_is_an_illegal_transition(running_trip: Trip) -> None:
    with pytest.raises(IllegalTransition) as caught:
        services.trip_start(trip_id=running_trip.id)

    assert "in_progress" in caught.value.message


def test_start_of_a_cancelled_trip_names_both_states(assigned_trip: Trip) -> None:
    services.trip_cancel(trip_id=assigned_trip.id, reason="no_show", cancelled_by="staff")

    with pytest.raises(IllegalTransition) as caught:
        services.trip_start(trip_id=assigned_trip.id)

    assert caught.value.message.startswith("A trip cannot go from 'cancelled' to 'in_progress';")


def test_start_of_an_unknown_trip_is_not_found(db: Any) -> None:
    with pytest.raises(TripNotFound):
        services.trip_start(trip_id=Trip().id)


# --- trip_record_position -------------------------------------------------------------------


def test_positions_are_recorded_while_in_progress(running_trip: Trip) -> None:
    recorded_at = timezone.now()

    position = services.trip_record_position(
        trip_id=running_trip.id,
        recorded_at=recorded_at,
        latitude=Decimal("52.520100"),
        longitude=Decimal("13.400000"),
    )

    stored = TripPosition.objects.get(id=position.id)
    assert stored.trip_id == running_trip.id
    assert stored.recorded_at == recorded_at
    assert stored.latitude == Decimal("52.520100")


def test_positions_are_refused_before_the_trip_starts(assigned_trip: Trip) -> None:
    with pytest.raises(TripNotInProgress) as caught:
        services.trip_record_position(
            trip_id=assigned_trip.id,
            recorded_at=timezone.now(),
            latitude=Decimal("52.5"),
            longitude=Decimal("13.4"),
        )

    assert caught.value.status == 409
    assert "assigned" in caught.value.message
    assert not TripPosition.objects.exists()


def test_positions_are_refused_after_completion(running_trip: Trip) -> None:
    services.trip_complete(trip_id=running_trip.id, distance_km=Decimal("3"), duration_seconds=60)

    with pytest.raises(TripNotInProgress):
        services.trip_record_position(
            trip_id=running_trip.id,
            recorded_at=timezone.now(),
            latitude=Decimal("52.5"),
            longitude=Decimal("13.4"),
        )


@pytest.mark.parametrize(
    "shift", [timedelta(minutes=10), timedelta(hours=-1)], ids=["future", "before-start"]
)
def test_positions_must_be_stamped_within_the_trip(running_trip: Trip, shift: timedelta) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.trip_record_position(
            trip_id=running_trip.id,
            recorded_at=timezone.now() + shift,
            latitude=Decimal("52.5"),
            longitude=Decimal("13.4"),
        )

    assert caught.value.field == "recorded_at"


def test_position_out_of_range_names_the_field(running_trip: Trip) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.trip_record_position(
            trip_id=running_trip.id,
            recorded_at=timezone.now(),
            latitude=Decimal("52.5"),
            longitude=Decimal("200"),
        )

    assert caught.value.field == "longitude"


# --- trip_complete --------------------------------------------------------------------------


def test_complete_frees_the_vehicle_and_grows_its_odometer(running_trip: Trip) -> None:
    assert running_trip.vehicle_id is not None
    before = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)

    trip = services.trip_complete(
        trip_id=running_trip.id, distance_km=Decimal("12.34"), duration_seconds=1500
    )

    trip.refresh_from_db()
    assert trip.status == TripStatus.COMPLETED
    assert trip.completed_at is not None
    assert trip.distance_km == Decimal("12.34")
    assert trip.duration_seconds == 1500
    after = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    assert (after.status, after.current_trip_id) == ("available", None)
    assert after.odometer_km == before.odometer_km + Decimal("12.34")


def test_complete_publishes_trip_completed(running_trip: Trip) -> None:
    trip = services.trip_complete(
        trip_id=running_trip.id, distance_km=Decimal("4.50"), duration_seconds=600
    )

    assert completed_events() == [
        TripCompleted(
            trip_id=trip.id,
            rider_id=trip.rider_id,
            vehicle_id=running_trip.vehicle_id,  # type: ignore[arg-type]
            distance_km=Decimal("4.50"),
            duration_seconds=600,
            completed_at=trip.completed_at,  # type: ignore[arg-type]
        )
    ]
    assert completed_events()[0].payload()["distance_km"] == "4.50"


def test_the_event_commits_or_rolls_back_with_the_completion(running_trip: Trip) -> None:
    """The outbox row is written in the completion's transaction: a rollback takes both."""

    def complete_then_fail() -> None:
        with module_atomic("trips"):
            services.trip_complete(
                trip_id=running_trip.id, distance_km=Decimal("1"), duration_seconds=60
            )
            raise RuntimeError("the request failed after the completion")

    with pytest.raises(RuntimeError):
        complete_then_fail()

    running_trip.refresh_from_db()
    assert running_trip.status == TripStatus.IN_PROGRESS
    assert completed_events() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"distance_km": Decimal("0")}, "distance_km"),
        ({"distance_km": Decimal("-2")}, "distance_km"),
        ({"distance_km": Decimal("1.005")}, "distance_km"),
        ({"distance_km": Decimal("2000.01")}, "distance_km"),
        ({"distance_km": Decimal("NaN")}, "distance_km"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"duration_seconds": 7 * 24 * 3600 + 1}, "duration_seconds"),
        ({"duration_seconds": 99999999999}, "duration_seconds"),
    ],
)
def test_complete_needs_a_sane_distance_and_duration(
    running_trip: Trip, changes: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {"distance_km": Decimal("3"), "duration_seconds": 60, **changes}
    with pytest.raises(InvalidRequest) as caught:
        services.trip_complete(trip_id=running_trip.id, **arguments)

    assert caught.value.field == field
    running_trip.refresh_from_db()
    assert running_trip.status == TripStatus.IN_PROGRESS


def test_complete_of_an_assigned_trip_is_illegal(assigned_trip: Trip) -> None:
    with pytest.raises(IllegalTransition) as caught:
        services.trip_complete(
            trip_id=assigned_trip.id, distance_km=Decimal("3"), duration_seconds=60
        )

    assert "from 'assigned' to 'completed'" in caught.value.message


# --- trip_cancel ----------------------------------------------------------------------------


def test_cancel_releases_the_vehicle(assigned_trip: Trip) -> None:
    assert assigned_trip.vehicle_id is not None

    trip = services.trip_cancel(
        trip_id=assigned_trip.id, reason="rider_changed_mind", cancelled_by="rider"
    )

    trip.refresh_from_db()
    assert trip.status == TripStatus.CANCELLED
    assert trip.cancelled_at is not None
    assert trip.cancel_reason == "rider_changed_mind"
    assert trip.cancelled_by == "rider"
    assert vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id).status == "available"


def test_cancel_keeps_the_note(assigned_trip: Trip) -> None:
    trip = services.trip_cancel(
        trip_id=assigned_trip.id, reason="other", note="  Took the tram.  ", cancelled_by="rider"
    )

    assert trip.cancel_note == "Took the tram."


def test_a_requested_trip_without_vehicle_can_be_cancelled(rider: Any) -> None:
    trip = Trip.objects.create(rider_id=rider.id, status=TripStatus.REQUESTED, **ROUTE)

    services.trip_cancel(trip_id=trip.id, reason="staff_cancelled", cancelled_by="staff")

    trip.refresh_from_db()
    assert trip.status == TripStatus.CANCELLED


def test_cancel_goes_through_when_the_vehicle_went_offline(assigned_trip: Trip) -> None:
    """A reserved vehicle that stopped answering is freed from the trip but stays offline."""
    assert assigned_trip.vehicle_id is not None
    vehicles_api.vehicle_status_change(vehicle_id=assigned_trip.vehicle_id, status="offline")

    trip = services.trip_cancel(
        trip_id=assigned_trip.id, reason="vehicle_issue", cancelled_by="staff"
    )

    assert trip.status == TripStatus.CANCELLED
    vehicle = vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("offline", None)


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled"])
def test_only_trips_not_yet_started_can_be_cancelled(assigned_trip: Trip, state: str) -> None:
    if state in {"in_progress", "completed"}:
        services.trip_start(trip_id=assigned_trip.id)
    if state == "completed":
        services.trip_complete(
            trip_id=assigned_trip.id, distance_km=Decimal("2"), duration_seconds=60
        )
    if state == "cancelled":
        services.trip_cancel(trip_id=assigned_trip.id, reason="no_show", cancelled_by="staff")

    with pytest.raises(IllegalTransition) as caught:
        services.trip_cancel(trip_id=assigned_trip.id, reason="no_show", cancelled_by="staff")

    assert f"from '{state}' to 'cancelled'" in caught.value.message


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"reason": "bored", "cancelled_by": "staff"}, "reason"),
        ({"reason": "staff_cancelled", "cancelled_by": "rider"}, "reason"),
        ({"reason": "no_show", "cancelled_by": "rider"}, "reason"),
        ({"reason": "other", "cancelled_by": "rider"}, "note"),
        ({"reason": "other", "note": "   ", "cancelled_by": "staff"}, "note"),
        ({"reason": "other", "note": "x" * 501, "cancelled_by": "staff"}, "note"),
        ({"reason": "other", "note": "x", "cancelled_by": "robot"}, "cancelled_by"),
    ],
)
def test_cancel_validates_its_input(
    assigned_trip: Trip, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.trip_cancel(trip_id=assigned_trip.id, **arguments)

    assert caught.value.field == field
    assigned_trip.refresh_from_db()
    assert assigned_trip.status == TripStatus.ASSIGNED
