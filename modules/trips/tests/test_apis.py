"""REST endpoints of the trips module: happy paths, who may do what, validation, conflicts."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from modules.trips import services
from modules.trips.models import Trip, TripPosition, TripStatus
from modules.trips.tests.conftest import ROUTE
from modules.vehicles import api as vehicles_api

pytestmark = pytest.mark.django_db

ClientFor = Callable[[Any], APIClient]

TRIPS = "/api/v1/trips/"
ROUTE_BODY = {key: str(value) for key, value in ROUTE.items()}


def url(trip: Trip, action: str = "") -> str:
    return f"{TRIPS}{trip.id}/" + (f"{action}/" if action else "")


def position_body(**changes: Any) -> dict[str, Any]:
    return {
        "recorded_at": timezone.now().isoformat(),
        "latitude": "52.520500",
        "longitude": "13.401000",
        **changes,
    }


# --- anonymous callers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("get", None),
        ("post", None),
        ("get", ""),
        ("post", "start"),
        ("get", "positions"),
        ("post", "positions"),
        ("post", "complete"),
        ("post", "cancel"),
    ],
)
def test_every_endpoint_needs_a_signed_in_caller(
    client_for: ClientFor, assigned_trip: Trip, method: str, action: str | None
) -> None:
    path = TRIPS if action is None else url(assigned_trip, action)

    response = getattr(client_for(None), method)(path, {})

    assert response.status_code == 401


# --- POST / : request a trip ----------------------------------------------------------------


def test_a_rider_requests_a_trip(client_for: ClientFor, rider: Any, vehicle: Any) -> None:
    response = client_for(rider).post(TRIPS, ROUTE_BODY)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "assigned"
    assert body["vehicle_id"] == str(vehicle.id)
    assert body["rider_id"] == str(rider.id)
    assert body["origin_latitude"] == "52.521918"
    assert body["distance_km"] is None
    assert Trip.objects.get(id=body["id"]).status == TripStatus.ASSIGNED
    assert vehicles_api.vehicle_get(vehicle_id=vehicle.id).status == "reserved"


def test_staff_without_the_rider_role_cannot_request(
    client_for: ClientFor, staff: Any, vehicle: Any
) -> None:
    response = client_for(staff).post(TRIPS, ROUTE_BODY)

    assert response.status_code == 403
    assert not Trip.objects.exists()


def test_requesting_without_a_vehicle_is_a_conflict_and_stores_nothing(
    client_for: ClientFor, rider: Any
) -> None:
    response = client_for(rider).post(TRIPS, ROUTE_BODY)

    assert response.status_code == 409
    assert response.json()["code"] == "no_vehicle_available"
    assert not Trip.objects.exists()


def test_a_second_active_trip_is_a_conflict(
    client_for: ClientFor, assigned_trip: Trip, rider: Any, make_vehicle: Callable[..., Any]
) -> None:
    make_vehicle()

    response = client_for(rider).post(TRIPS, ROUTE_BODY)

    assert response.status_code == 409
    assert response.json()["code"] == "active_trip_exists"
    assert Trip.objects.filter(rider_id=rider.id).count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"origin_latitude": None}, "origin_latitude"),
        ({"origin_longitude": "east"}, "origin_longitude"),
        ({"destination_latitude": "95"}, "destination_latitude"),
        ({"destination_longitude": "-181"}, "destination_longitude"),
        ({"origin_latitude": "1e30"}, "origin_latitude"),
        (
            {"destination_latitude": "52.521918", "destination_longitude": "13.413215"},
            "destination_latitude",
        ),
    ],
)
def test_request_validation_names_the_field(
    client_for: ClientFor, rider: Any, vehicle: Any, changes: dict[str, Any], field: str
) -> None:
    body = {key: value for key, value in {**ROUTE_BODY, **changes}.items() if value is not None}

    response = client_for(rider).post(TRIPS, body)

    assert response.status_code == 400
    assert field in response.json()
    assert not Trip.objects.exists()


def test_gps_floats_are_rounded_to_six_places(
    client_for: ClientFor, rider: Any, vehicle: Any
) -> None:
    body = {**ROUTE_BODY, "origin_latitude": 52.5219184999, "origin_longitude": 13.41321550001}

    response = client_for(rider).post(TRIPS, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["origin_latitude"] == "52.521918"
    assert response.json()["origin_longitude"] == "13.413216"


# --- GET / : list ---------------------------------------------------------------------------


def test_a_rider_lists_only_their_own_trips(
    client_for: ClientFor, assigned_trip: Trip, other_riders_trip: Trip, rider: Any
) -> None:
    response = client_for(rider).get(TRIPS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [trip["id"] for trip in body["results"]] == [str(assigned_trip.id)]


def test_staff_list_every_trip(
    client_for: ClientFor, assigned_trip: Trip, other_riders_trip: Trip, staff: Any
) -> None:
    response = client_for(staff).get(TRIPS)

    assert response.status_code == 200
    assert {trip["id"] for trip in response.json()["results"]} == {
        str(assigned_trip.id),
        str(other_riders_trip.id),
    }


def _history(rider_id: Any, statuses: list[str]) -> list[Trip]:
    now = timezone.now()
    return [
        Trip.objects.create(
            rider_id=rider_id,
            status=status,
            requested_at=now - timedelta(days=index + 1),
            **ROUTE,
        )
        for index, status in enumerate(statuses)
    ]


def test_list_is_newest_first_and_can_be_reversed(client_for: ClientFor, rider: Any) -> None:
    newest, middle, oldest = _history(rider.id, ["completed", "cancelled", "completed"])
    client = client_for(rider)

    default = [trip["id"] for trip in client.get(TRIPS).json()["results"]]
    reversed_ = [
        trip["id"] for trip in client.get(TRIPS, {"ordering": "requested_at"}).json()["results"]
    ]

    assert default == [str(newest.id), str(middle.id), str(oldest.id)]
    assert reversed_ == [str(oldest.id), str(middle.id), str(newest.id)]


def test_list_filters(client_for: ClientFor, rider: Any, other_rider: Any, staff: Any) -> None:
    newest, middle, oldest = _history(rider.id, ["completed", "cancelled", "interrupted"])
    (others,) = _history(other_rider.id, ["completed"])
    vehicle_id = Trip().id
    Trip.objects.filter(id=middle.id).update(vehicle_id=vehicle_id)
    client = client_for(staff)

    def ids(**params: Any) -> set[str]:
        response = client.get(TRIPS, params)
        assert response.status_code == 200, response.json()
        return {trip["id"] for trip in response.json()["results"]}

    assert ids(status=["cancelled", "interrupted"]) == {str(middle.id), str(oldest.id)}
    assert ids(status="completed", rider_id=str(rider.id)) == {str(newest.id)}
    assert ids(vehicle_id=str(vehicle_id)) == {str(middle.id)}
    assert ids(rider_id=str(other_rider.id)) == {str(others.id)}
    cut = (middle.requested_at - timedelta(hours=1)).isoformat()
    assert ids(requested_after=cut, rider_id=str(rider.id)) == {str(newest.id), str(middle.id)}
    assert ids(requested_before=cut) == {str(oldest.id)}


def test_a_rider_cannot_see_others_trips_through_the_rider_filter(
    client_for: ClientFor, rider: Any, other_riders_trip: Trip
) -> None:
    response = client_for(rider).get(TRIPS, {"rider_id": str(other_riders_trip.rider_id)})

    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "flying"}, "status"),
        ({"vehicle_id": "not-a-uuid"}, "vehicle_id"),
        ({"requested_after": "yesterday"}, "requested_after"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    client_for: ClientFor, rider: Any, params: dict[str, str], field: str
) -> None:
    response = client_for(rider).get(TRIPS, params)

    assert response.status_code == 400
    assert field in response.json()


def test_list_is_paginated(client_for: ClientFor, rider: Any) -> None:
    _history(rider.id, ["completed"] * 3)

    body = client_for(rider).get(TRIPS, {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None


# --- GET /{id}/ -----------------------------------------------------------------------------


def test_a_rider_reads_their_own_trip(
    client_for: ClientFor, assigned_trip: Trip, rider: Any
) -> None:
    response = client_for(rider).get(url(assigned_trip))

    assert response.status_code == 200
    assert response.json()["id"] == str(assigned_trip.id)
    assert response.json()["status"] == "assigned"


def test_another_riders_trip_is_not_found(
    client_for: ClientFor, assigned_trip: Trip, other_rider: Any
) -> None:
    response = client_for(other_rider).get(url(assigned_trip))

    assert response.status_code == 404
    assert response.json()["code"] == "trip_not_found"


def test_staff_read_any_trip(client_for: ClientFor, assigned_trip: Trip, staff: Any) -> None:
    assert client_for(staff).get(url(assigned_trip)).status_code == 200


def test_an_unknown_trip_is_not_found(client_for: ClientFor, staff: Any) -> None:
    assert client_for(staff).get(f"{TRIPS}{Trip().id}/").status_code == 404


# --- POST /{id}/start/ ----------------------------------------------------------------------


def test_staff_start_a_trip(client_for: ClientFor, assigned_trip: Trip, staff: Any) -> None:
    response = client_for(staff).post(url(assigned_trip, "start"))

    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    assert response.json()["started_at"] is not None
    assert assigned_trip.vehicle_id is not None
    assert vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id).status == "in_trip"


@pytest.mark.parametrize("action", ["start", "complete"])
def test_riders_cannot_use_staff_endpoints(
    client_for: ClientFor, assigned_trip: Trip, rider: Any, action: str
) -> None:
    response = client_for(rider).post(
        url(assigned_trip, action), {"distance_km": "1", "duration_seconds": 60}
    )

    assert response.status_code == 403
    assigned_trip.refresh_from_db()
    assert assigned_trip.status == TripStatus.ASSIGNED


def test_starting_twice_is_a_conflict(
    client_for: ClientFor, running_trip: Trip, staff: Any
) -> None:
    response = client_for(staff).post(url(running_trip, "start"))

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert "in_progress" in response.json()["detail"]


def test_starting_an_unknown_trip_is_not_found(client_for: ClientFor, staff: Any) -> None:
    assert client_for(staff).post(f"{TRIPS}{Trip().id}/start/").status_code == 404


# --- POST /{id}/positions/ ------------------------------------------------------------------


def test_staff_report_a_position(client_for: ClientFor, running_trip: Trip, staff: Any) -> None:
    response = client_for(staff).post(url(running_trip, "positions"), position_body())

    assert response.status_code == 201, response.json()
    assert response.json()["trip_id"] == str(running_trip.id)
    assert response.json()["latitude"] == "52.520500"
    assert TripPosition.objects.filter(trip=running_trip).count() == 1


def test_riders_cannot_report_positions(
    client_for: ClientFor, running_trip: Trip, rider: Any
) -> None:
    response = client_for(rider).post(url(running_trip, "positions"), position_body())

    assert response.status_code == 403
    assert not TripPosition.objects.exists()


def test_positions_before_the_start_are_a_conflict(
    client_for: ClientFor, assigned_trip: Trip, staff: Any
) -> None:
    response = client_for(staff).post(url(assigned_trip, "positions"), position_body())

    assert response.status_code == 409
    assert response.json()["code"] == "trip_not_in_progress"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"latitude": "91"}, "latitude"),
        ({"longitude": None}, "longitude"),
        ({"recorded_at": "soon"}, "recorded_at"),
        ({"recorded_at": "2001-01-01T00:00:00Z"}, "recorded_at"),
    ],
)
def test_position_validation_names_the_field(
    client_for: ClientFor, running_trip: Trip, staff: Any, changes: dict[str, Any], field: str
) -> None:
    body = {key: value for key, value in position_body(**changes).items() if value is not None}

    response = client_for(staff).post(url(running_trip, "positions"), body)

    assert response.status_code == 400
    assert field in response.json()


# --- GET /{id}/positions/ -------------------------------------------------------------------


@pytest.fixture
def tracked_trip(running_trip: Trip) -> Trip:
    start = timezone.now()
    for second in range(3):
        services.trip_record_position(
            trip_id=running_trip.id,
            recorded_at=start + timedelta(seconds=second),
            latitude=Decimal("52.52") + Decimal(second) / 1000,
            longitude=Decimal("13.40"),
        )
    return running_trip


def test_the_rider_follows_their_trip_latest_first(
    client_for: ClientFor, tracked_trip: Trip, rider: Any
) -> None:
    response = client_for(rider).get(url(tracked_trip, "positions"), {"page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [position["latitude"] for position in body["results"]] == ["52.522000", "52.521000"]


def test_staff_follow_any_trip(client_for: ClientFor, tracked_trip: Trip, staff: Any) -> None:
    response = client_for(staff).get(url(tracked_trip, "positions"), {"ordering": "recorded_at"})

    assert response.status_code == 200
    assert response.json()["results"][0]["latitude"] == "52.520000"


def test_another_rider_cannot_follow_the_trip(
    client_for: ClientFor, tracked_trip: Trip, other_rider: Any
) -> None:
    assert client_for(other_rider).get(url(tracked_trip, "positions")).status_code == 404


# --- POST /{id}/complete/ -------------------------------------------------------------------


def test_staff_complete_a_trip(client_for: ClientFor, running_trip: Trip, staff: Any) -> None:
    assert running_trip.vehicle_id is not None
    odometer = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id).odometer_km

    response = client_for(staff).post(
        url(running_trip, "complete"), {"distance_km": "8.20", "duration_seconds": 1200}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "completed"
    assert response.json()["distance_km"] == "8.20"
    assert response.json()["duration_seconds"] == 1200
    vehicle = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    assert vehicle.status == "available"
    assert vehicle.odometer_km == odometer + Decimal("8.20")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"distance_km": "0", "duration_seconds": 60}, "distance_km"),
        ({"duration_seconds": 60}, "distance_km"),
        ({"distance_km": "2", "duration_seconds": 0}, "duration_seconds"),
        ({"distance_km": "2", "duration_seconds": "long"}, "duration_seconds"),
    ],
)
def test_complete_validation_names_the_field(
    client_for: ClientFor, running_trip: Trip, staff: Any, body: dict[str, Any], field: str
) -> None:
    response = client_for(staff).post(url(running_trip, "complete"), body)

    assert response.status_code == 400
    assert field in response.json()


def test_completing_an_assigned_trip_is_a_conflict(
    client_for: ClientFor, assigned_trip: Trip, staff: Any
) -> None:
    response = client_for(staff).post(
        url(assigned_trip, "complete"), {"distance_km": "2", "duration_seconds": 60}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert "from 'assigned' to 'completed'" in response.json()["detail"]


# --- POST /{id}/cancel/ ---------------------------------------------------------------------


def test_a_rider_cancels_their_trip(client_for: ClientFor, assigned_trip: Trip, rider: Any) -> None:
    response = client_for(rider).post(
        url(assigned_trip, "cancel"), {"reason": "other", "note": "Found a friend with a car."}
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "other"
    assert body["cancel_note"] == "Found a friend with a car."
    assert body["cancelled_by"] == "rider"
    assert assigned_trip.vehicle_id is not None
    assert vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id).status == "available"


def test_staff_cancel_any_trip(client_for: ClientFor, assigned_trip: Trip, staff: Any) -> None:
    response = client_for(staff).post(url(assigned_trip, "cancel"), {"reason": "no_show"})

    assert response.status_code == 200
    assert response.json()["cancelled_by"] == "staff"
    assert response.json()["cancel_reason"] == "no_show"


def test_a_rider_cannot_cancel_another_riders_trip(
    client_for: ClientFor, assigned_trip: Trip, other_rider: Any
) -> None:
    response = client_for(other_rider).post(
        url(assigned_trip, "cancel"), {"reason": "rider_changed_mind"}
    )

    assert response.status_code == 404
    assigned_trip.refresh_from_db()
    assert assigned_trip.status == TripStatus.ASSIGNED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "bored"}, "reason"),
        ({"reason": "staff_cancelled"}, "reason"),
        ({"reason": "other"}, "note"),
        ({"reason": "other", "note": "x" * 501}, "note"),
    ],
)
def test_cancel_validation_names_the_field(
    client_for: ClientFor, assigned_trip: Trip, rider: Any, body: dict[str, Any], field: str
) -> None:
    response = client_for(rider).post(url(assigned_trip, "cancel"), body)

    assert response.status_code == 400
    assert field in response.json()


def test_cancelling_a_running_trip_is_a_conflict(
    client_for: ClientFor, running_trip: Trip, rider: Any
) -> None:
    response = client_for(rider).post(url(running_trip, "cancel"), {"reason": "rider_changed_mind"})

    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert "from 'in_progress' to 'cancelled'" in response.json()["detail"]


# --- huge numbers are a 400 naming the field, never a 500 ------------------------------------

HUGE = [10**40, 1e40, "1e25", "-1e40", 99999999999]


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("field", list(ROUTE_BODY))
def test_request_refuses_huge_coordinates(
    client_for: ClientFor, rider: Any, vehicle: Any, field: str, value: Any
) -> None:
    response = client_for(rider).post(TRIPS, {**ROUTE_BODY, field: value}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Trip.objects.exists()


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    ("action", "field"),
    [
        ("positions", "latitude"),
        ("positions", "longitude"),
        ("complete", "distance_km"),
        ("complete", "duration_seconds"),
    ],
)
def test_running_trip_endpoints_refuse_huge_numbers(
    client_for: ClientFor, running_trip: Trip, staff: Any, action: str, field: str, value: Any
) -> None:
    body = (
        position_body()
        if action == "positions"
        else {"distance_km": "8.20", "duration_seconds": 1200}
    )

    response = client_for(staff).post(
        url(running_trip, action), {**body, field: value}, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not TripPosition.objects.exists()
    running_trip.refresh_from_db()
    assert running_trip.status == TripStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"distance_km": "2000.01", "duration_seconds": 60}, "distance_km"),
        ({"distance_km": "2", "duration_seconds": 7 * 24 * 3600 + 1}, "duration_seconds"),
    ],
)
def test_complete_refuses_a_trip_beyond_the_bounds(
    client_for: ClientFor, running_trip: Trip, staff: Any, body: dict[str, Any], field: str
) -> None:
    response = client_for(staff).post(url(running_trip, "complete"), body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_complete_accepts_the_bounds(client_for: ClientFor, running_trip: Trip, staff: Any) -> None:
    body = {"distance_km": "2000.00", "duration_seconds": 7 * 24 * 3600}

    response = client_for(staff).post(url(running_trip, "complete"), body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["distance_km"] == "2000.00"
