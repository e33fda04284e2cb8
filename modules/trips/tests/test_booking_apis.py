"""Booking over REST: POST /api/v1/trips/ runs the saga; GET /api/v1/trips/bookings/ follows it."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import patched_settings
from rest_framework.test import APIClient

from modules.trips import booking
from modules.trips.models import BookingSaga, Trip
from modules.trips.tests.conftest import ROUTE, credit_for
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
from monolith.platform.errors import ServiceUnavailable

pytestmark = pytest.mark.django_db

ClientFor = Callable[[Any], APIClient]
TRIPS = "/api/v1/trips/"
BOOKINGS = "/api/v1/trips/bookings/"
ROUTE_BODY = {field: str(value) for field, value in ROUTE.items()}
# Token and user, the caller's roles (2); the booking stored (1); the credit step: the rider,
# their account, the active-trip check, the hold in users (10); each step recorded: the lease
# checked and renewed by one update that takes the booking's row lock, the step inserted (4,
# twice); the vehicle step (9); the booking confirmed, the trip looked for and created, both
# steps recorded (6). The answer is the trip just created, not read back. Savepoints count:
# each step is its own transaction.
BOOKING_QUERIES = 36
# Token and user, the caller's roles, the count, the page, the page's steps.
LIST_QUERIES = 5


def held(user: Any) -> Decimal:
    return users_api.wallet_get(rider_id=user.id).held.amount


def test_a_confirmed_booking_is_201_with_the_trip_and_its_booking(
    client_for: ClientFor, rider: Any, vehicle: Any
) -> None:
    response = client_for(rider).post(TRIPS, ROUTE_BODY)

    assert response.status_code == 201, response.json()
    body = response.json()
    saga = BookingSaga.objects.get()
    assert body["id"] == str(saga.trip_id)
    assert (body["status"], body["vehicle_id"]) == ("assigned", str(vehicle.id))
    assert body["booking_id"] == str(saga.id)
    assert body["booking_url"] == f"http://testserver{BOOKINGS}{saga.id}/"
    assert response["Location"] == f"http://testserver{TRIPS}{saga.trip_id}/"
    assert "Retry-After" not in response
    assert held(rider) == booking.booking_credit_amount()


def test_the_booking_endpoint_runs_a_fixed_number_of_queries(
    client_for: ClientFor, rider: Any, vehicle: Any, assert_num_queries_all_databases: Any
) -> None:
    client = client_for(rider)
    users_api.wallet_get(rider_id=rider.id)  # the wallet exists, as for any rider who paid

    with assert_num_queries_all_databases(BOOKING_QUERIES):
        response = client.post(TRIPS, ROUTE_BODY)

    assert response.status_code == 201


def test_a_refused_booking_is_409_with_the_reason_and_nothing_reserved(
    client_for: ClientFor, make_user: Callable[..., Any], vehicle: Any
) -> None:
    poor = make_user("rider-poor", Role.RIDER)
    client = client_for(poor)

    response = client.post(TRIPS, ROUTE_BODY)

    assert response.status_code == 409
    assert "Retry-After" not in response
    body = response.json()
    assert body["code"] == "insufficient_credit"
    assert "available" in body["detail"]
    saga = BookingSaga.objects.get()
    assert body["booking_id"] == str(saga.id)
    assert not Trip.objects.exists()
    assert vehicles_api.vehicle_get(vehicle_id=vehicle.id).status == "available"

    followed = client.get(body["booking_url"])
    assert followed.status_code == 200
    assert "Retry-After" not in followed
    assert followed.json()["state"] == "compensated"
    assert followed.json()["trip_url"] is None
    assert followed.json()["steps"][0]["error_code"] == "insufficient_credit"


def test_no_vehicle_is_409_and_the_credit_is_released(client_for: ClientFor, rider: Any) -> None:
    response = client_for(rider).post(TRIPS, ROUTE_BODY)

    assert response.status_code == 409
    assert response.json()["code"] == "no_vehicle_available"
    assert held(rider) == 0
    followed = client_for(rider).get(response.json()["booking_url"]).json()
    assert [(s["action"], s["step"], s["outcome"]) for s in followed["steps"]] == [
        ("do", "reserve_credit", "done"),
        ("do", "reserve_vehicle", "refused"),
        ("undo", "reserve_vehicle", "done"),
        ("undo", "reserve_credit", "done"),
    ]


def test_a_booking_that_cannot_finish_now_is_202_and_polled_until_confirmed(
    client_for: ClientFor,
    rider: Any,
    vehicle: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.FLEET_BOOKING_POLL_SECONDS = 3
    real = vehicles_api.vehicle_reserve_for_trip

    def down(**kwargs: Any) -> Any:
        raise ServiceUnavailable("The vehicles service did not answer.")

    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", down)
    client = client_for(rider)

    response = client.post(TRIPS, ROUTE_BODY)

    assert response.status_code == 202
    saga = BookingSaga.objects.get()
    assert response["Location"] == f"http://testserver{BOOKINGS}{saga.id}/"
    assert response["Retry-After"] == "3"
    body = response.json()
    assert (body["state"], body["step"], body["trip_url"]) == ("running", "reserve_vehicle", None)
    interrupted = body["steps"][-1]
    assert (interrupted["outcome"], interrupted["error_code"]) == ("interrupted", "unavailable")
    assert interrupted["error"] == "The vehicles service did not answer."

    polled_running = client.get(response["Location"])
    assert polled_running.json()["state"] == "running"
    assert polled_running["Retry-After"] == "3"

    # The vehicles module is back; the periodic resume finishes the booking.
    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", real)
    BookingSaga.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    booking.booking_saga_resume_stale()

    polled_confirmed = client.get(response["Location"])
    assert "Retry-After" not in polled_confirmed
    polled = polled_confirmed.json()
    assert polled["state"] == "confirmed"
    assert polled["vehicle_id"] == str(vehicle.id)
    assert polled["trip_url"] == f"http://testserver{TRIPS}{saga.trip_id}/"
    assert client.get(polled["trip_url"]).json()["status"] == "assigned"


def test_the_schema_names_retry_after_on_the_answers_of_a_booking_still_going_on() -> None:
    # Without the hook naming enums: it imports every module's models, and a peeled run
    # installs only trips and the modules it depends on.
    with patched_settings({"POSTPROCESSING_HOOKS": []}):
        paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    pending = paths[TRIPS]["post"]["responses"]["202"]["headers"]
    polled = paths[f"{BOOKINGS}{{booking_id}}/"]["get"]["responses"]["200"]["headers"]
    for headers in (pending, polled):
        assert headers["Retry-After"]["schema"] == {"type": "integer"}
    assert "Retry-After" not in paths[TRIPS]["post"]["responses"]["201"].get("headers", {})


@pytest.mark.parametrize(
    "body",
    [
        {},
        {**ROUTE_BODY, "origin_latitude": "91"},
        {
            **ROUTE_BODY,
            "destination_latitude": ROUTE_BODY["origin_latitude"],
            "destination_longitude": ROUTE_BODY["origin_longitude"],
        },
    ],
    ids=["empty", "out-of-range", "origin-is-destination"],
)
def test_a_bad_booking_is_400_and_starts_no_booking(
    client_for: ClientFor, rider: Any, vehicle: Any, body: dict[str, str]
) -> None:
    response = client_for(rider).post(TRIPS, body, format="json")

    assert response.status_code == 400
    assert not BookingSaga.objects.exists()
    assert held(rider) == 0


def test_riders_follow_only_their_own_bookings(
    client_for: ClientFor, rider: Any, other_rider: Any, staff: Any, vehicle: Any
) -> None:
    mine = client_for(rider).post(TRIPS, ROUTE_BODY).json()["booking_url"]
    theirs = client_for(other_rider).post(TRIPS, ROUTE_BODY).json()["booking_url"]  # no vehicle

    assert client_for(rider).get(mine).status_code == 200
    refused = client_for(rider).get(theirs)
    assert refused.status_code == 404
    assert refused.json()["code"] == "booking_not_found"
    assert client_for(staff).get(theirs).json()["state"] == "compensated"

    own = client_for(rider).get(BOOKINGS).json()["results"]
    assert [b["url"] for b in own] == [mine]
    every = client_for(staff).get(BOOKINGS, {"state": "compensated"}).json()["results"]
    assert [b["url"] for b in every] == [theirs]


def test_an_unknown_booking_is_404(client_for: ClientFor, staff: Any) -> None:
    assert client_for(staff).get(f"{BOOKINGS}{Trip().id}/").status_code == 404


def test_bookings_need_a_signed_in_caller(client_for: ClientFor) -> None:
    assert client_for(None).get(BOOKINGS).status_code == 401


@pytest.fixture
def twelve_bookings(make_user: Callable[..., Any]) -> None:
    for number in range(12):
        rider = make_user(f"rider-list-{number}", Role.RIDER)
        credit_for(rider, bookings=1)
        booking.booking_run(rider_id=rider.id, **ROUTE)  # no vehicle: four steps each


@pytest.mark.usefixtures("twelve_bookings")
def test_the_booking_list_query_count_does_not_grow_with_the_page(
    client_for: ClientFor, staff: Any, assert_num_queries_all_databases: Any
) -> None:
    client = client_for(staff)
    for page_size in (2, 10):
        with assert_num_queries_all_databases(LIST_QUERIES):
            response = client.get(BOOKINGS, {"page_size": page_size})
        assert response.status_code == 200
        results = response.json()["results"]
        assert len(results) == page_size
        assert all(len(b["steps"]) == 4 for b in results)
