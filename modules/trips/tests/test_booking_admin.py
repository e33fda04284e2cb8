"""The booking sagas in the admin: state, steps and errors; stuck ones resumed or turned back."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from modules.trips import booking
from modules.trips.models import BookingSaga
from modules.trips.tests.conftest import ROUTE, ROUTE_ARGS
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.errors import ServiceUnavailable

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/trips/bookingsaga/"


@pytest.fixture
def admin_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("admin-ada", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def confirmed(rider: Any, vehicle: Any) -> BookingSaga:
    return booking.booking_run(rider_id=rider.id, **ROUTE).saga


@pytest.fixture
def refused(other_rider: Any) -> BookingSaga:
    """No vehicle left: turned back, with four steps."""
    return booking.booking_run(rider_id=other_rider.id, **ROUTE).saga


@pytest.fixture
def stuck(rider: Any, vehicle: Any, monkeypatch: pytest.MonkeyPatch) -> BookingSaga:
    """Waiting for the vehicles module to answer again, the credit held."""
    real = vehicles_api.vehicle_reserve_for_trip

    def down(**kwargs: Any) -> Any:
        raise ServiceUnavailable("The vehicles service did not answer.")

    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", down)
    saga = booking.booking_run(rider_id=rider.id, **ROUTE).saga
    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", real)
    assert saga.state == "running"
    return saga


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_list_filters_by_state_and_finds_by_rider_or_trip(
    admin_client: Client, confirmed: BookingSaga, refused: BookingSaga
) -> None:
    compensated = admin_client.get(CHANGELIST, {"state__exact": "compensated"})
    assert compensated.status_code == 200
    assert str(refused.id) in compensated.content.decode()
    assert str(confirmed.id) not in compensated.content.decode()

    for term in (str(confirmed.rider_id), str(confirmed.trip_id)):
        found = admin_client.get(CHANGELIST, {"q": term}).content.decode()
        assert str(confirmed.id) in found
        assert str(refused.id) not in found


def test_the_detail_shows_the_steps_and_their_errors_read_only(
    admin_client: Client, refused: BookingSaga
) -> None:
    response = admin_client.get(f"{CHANGELIST}{refused.id}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "no_vehicle_available" in page
    assert refused.failure_message in page
    assert page.count("Reserve a vehicle") == 2  # refused, then undone
    assert "Undo (compensate)" in page
    assert 'name="state"' not in page  # nothing to edit
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_staff_resume_a_stuck_booking(
    admin_client: Client, stuck: BookingSaga, vehicle: Any
) -> None:
    response = admin_client.post(
        CHANGELIST,
        {"action": "resume_selected", "_selected_action": [str(stuck.id)]},
        follow=True,
    )

    assert f"Resumed: {stuck.id} is confirmed." in messages_of(response)
    stuck.refresh_from_db()
    assert (stuck.state, stuck.vehicle_id) == ("confirmed", vehicle.id)


def test_staff_compensate_a_stuck_booking_and_skip_the_finished(
    admin_client: Client, stuck: BookingSaga, confirmed: BookingSaga, vehicle: Any
) -> None:
    response = admin_client.post(
        CHANGELIST,
        {"action": "compensate_selected", "_selected_action": [str(stuck.id), str(confirmed.id)]},
        follow=True,
    )

    messages = messages_of(response)
    assert f"Compensated: {stuck.id} is compensated." in messages
    assert any(m.startswith("Skipped 1 booking(s): ") and "confirmed" in m for m in messages)
    stuck.refresh_from_db()
    assert (stuck.state, stuck.failure_code) == ("compensated", "compensated_by_staff")
    assert "admin-ada" in stuck.failure_message
    assert users_api.wallet_get(rider_id=stuck.rider_id).held.amount == confirmed.credit_amount


def test_a_booking_being_worked_on_is_left_alone(admin_client: Client, rider: Any) -> None:
    saga, _token = booking.booking_start(rider_id=rider.id, **ROUTE_ARGS)  # a runner holds it

    response = admin_client.post(
        CHANGELIST,
        {"action": "compensate_selected", "_selected_action": [str(saga.id)]},
        follow=True,
    )

    assert any("being worked on" in m for m in messages_of(response))
    saga.refresh_from_db()
    assert saga.state == "running"
    # Once its lease runs out, it can be turned back.
    BookingSaga.objects.filter(pk=saga.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    admin_client.post(
        CHANGELIST, {"action": "compensate_selected", "_selected_action": [str(saga.id)]}
    )
    saga.refresh_from_db()
    assert saga.state == "compensated"


def test_the_recovery_actions_need_their_permission(make_user: Any, stuck: BookingSaga) -> None:
    viewer = make_user("viewer-vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_bookingsaga"))
    client = Client()
    client.force_login(viewer)

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert "resume_selected" not in listing.content.decode()
    client.post(CHANGELIST, {"action": "compensate_selected", "_selected_action": [str(stuck.id)]})
    stuck.refresh_from_db()
    assert stuck.state == "running"

    viewer.user_permissions.add(Permission.objects.get(codename="recover_bookingsaga"))
    viewer = type(viewer).objects.get(pk=viewer.pk)  # permissions are cached per instance
    client.force_login(viewer)
    assert "resume_selected" in client.get(CHANGELIST).content.decode()
