"""The trips admin: read-only records, and a cancel action that goes through the service."""

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from modules.trips import services
from modules.trips.models import Trip, TripPosition, TripStatus
from modules.vehicles import api as vehicles_api

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/trips/trip/"


@pytest.fixture
def admin_client_for_staff(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("admin-ada", is_staff=True, is_superuser=True))
    return client


def test_changelist_and_search(
    admin_client_for_staff: Client, assigned_trip: Trip, other_riders_trip: Trip
) -> None:
    response = admin_client_for_staff.get(CHANGELIST, {"q": str(assigned_trip.rider_id)})

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [assigned_trip]


def test_search_with_a_non_uuid_term_finds_nothing(
    admin_client_for_staff: Client, assigned_trip: Trip
) -> None:
    response = admin_client_for_staff.get(CHANGELIST, {"q": "not-a-uuid"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_filter_by_status(
    admin_client_for_staff: Client, assigned_trip: Trip, other_riders_trip: Trip
) -> None:
    services.trip_cancel(trip_id=other_riders_trip.id, reason="no_show", cancelled_by="staff")

    response = admin_client_for_staff.get(CHANGELIST, {"status__exact": "cancelled"})

    assert list(response.context["cl"].result_list) == [other_riders_trip]


def test_change_page_is_read_only_with_positions(
    admin_client_for_staff: Client, running_trip: Trip
) -> None:
    services.trip_record_position(
        trip_id=running_trip.id,
        recorded_at=running_trip.started_at,  # type: ignore[arg-type]
        latitude=Decimal("52.52"),
        longitude=Decimal("13.40"),
    )

    response = admin_client_for_staff.get(f"{CHANGELIST}{running_trip.id}/change/")
    posted = admin_client_for_staff.post(
        f"{CHANGELIST}{running_trip.id}/change/", {"status": "completed"}
    )

    assert response.status_code == 200
    assert "52.520000" in response.content.decode()
    assert posted.status_code in {200, 302}
    running_trip.refresh_from_db()
    assert running_trip.status == TripStatus.IN_PROGRESS


def test_trips_cannot_be_added_or_deleted_in_the_admin(
    admin_client_for_staff: Client, assigned_trip: Trip
) -> None:
    assert admin_client_for_staff.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client_for_staff.get(f"{CHANGELIST}{assigned_trip.id}/delete/").status_code == 403


def test_positions_are_read_only(admin_client_for_staff: Client, running_trip: Trip) -> None:
    position = services.trip_record_position(
        trip_id=running_trip.id,
        recorded_at=running_trip.started_at,  # type: ignore[arg-type]
        latitude=Decimal("52.52"),
        longitude=Decimal("13.40"),
    )

    listing = admin_client_for_staff.get("/admin/trips/tripposition/")
    delete = admin_client_for_staff.get(f"/admin/trips/tripposition/{position.id}/delete/")

    assert listing.status_code == 200
    assert delete.status_code == 403
    assert TripPosition.objects.filter(id=position.id).exists()


def test_cancel_action_cancels_and_reports_the_skipped(
    admin_client_for_staff: Client, assigned_trip: Trip, other_riders_trip: Trip
) -> None:
    services.trip_start(trip_id=other_riders_trip.id)

    response = admin_client_for_staff.post(
        CHANGELIST,
        {
            "action": "cancel_selected",
            "_selected_action": [str(assigned_trip.id), str(other_riders_trip.id)],
        },
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert "Cancelled 1 trip(s)." in messages
    assert any(
        message.startswith("Skipped 1 trip(s): ")
        and str(other_riders_trip.id) in message
        and "in_progress" in message
        for message in messages
    ), messages
    assigned_trip.refresh_from_db()
    assert assigned_trip.status == TripStatus.CANCELLED
    assert assigned_trip.cancel_reason == "staff_cancelled"
    assert assigned_trip.cancelled_by == "staff"
    assert assigned_trip.vehicle_id is not None
    assert vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id).status == "available"
    other_riders_trip.refresh_from_db()
    assert other_riders_trip.status == TripStatus.IN_PROGRESS


def test_the_cancel_action_needs_change_permission(make_user: Any, assigned_trip: Trip) -> None:
    from django.contrib.auth.models import Permission

    viewer = make_user("viewer-vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_trip"))
    client = Client()
    client.force_login(viewer)

    response = client.post(
        CHANGELIST,
        {"action": "cancel_selected", "_selected_action": [str(assigned_trip.id)]},
        follow=True,
    )

    assert response.status_code == 200
    assigned_trip.refresh_from_db()
    assert assigned_trip.status == TripStatus.ASSIGNED
