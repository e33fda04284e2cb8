"""The admin's cohort routing: status for all staff, changes for the migration team only."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from monolith.cohorts.models import RoutingChange, RoutingFlag
from monolith.platform.access import Role

pytestmark = pytest.mark.django_db

STATUS = reverse("admin:cohorts_routingflag_changelist")
TRIPS = reverse("admin:cohorts_routingflag_route", args=["trips"])


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_status_page_lists_every_module(mover: Any) -> None:
    response = signed_in(mover).get(STATUS)
    assert response.status_code == 200
    page = response.content.decode()
    for module in ("vehicles", "users", "trips", "billing"):
        assert reverse("admin:cohorts_routingflag_route", args=[module]) in page
    assert "in monolith" in page
    assert "Read-only" not in page


def test_the_migration_team_routes_a_cohort_from_the_admin(
    mover: Any, make_user: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_user("ann")
    Group.objects.create(name="beta")
    client = signed_in(mover)
    page = client.get(TRIPS)
    assert page.status_code == 200
    assert b'id="cohort-route-form"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            TRIPS,
            {
                "target": "cohort",
                "percent": "10",
                "users": "ann",
                "groups": ["beta"],
                "reason": "first cohort",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    record = RoutingChange.objects.get()
    assert (record.changed_by, record.reason) == (mover, "first cohort")
    assert record.after == {
        "everyone": None, "percent": "10.00", "users": ["ann"], "groups": ["beta"],
        "shadow": False,
    }  # fmt: skip
    assert "partial 10% + 1 user + group beta" in client.get(STATUS).content.decode()


def test_the_admin_form_says_what_is_wrong(mover: Any) -> None:
    client = signed_in(mover)
    response = client.post(
        TRIPS, {"target": "cohort", "percent": "120", "users": "zed", "reason": ""}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ensure this value is less than or equal to 100." in page
    assert "This field is required." in page
    response = client.post(TRIPS, {"target": "cohort", "users": "zed", "reason": "try"})
    assert "no account named &#x27;zed&#x27;" in response.content.decode()
    assert not RoutingChange.objects.exists()


def test_other_staff_see_routing_but_cannot_change_it(
    make_user: Callable[..., Any], route: Callable[..., Any]
) -> None:
    route(percent=Decimal(5))
    staff = make_user("staff-sam", Role.FLEET_STAFF, is_staff=True, is_superuser=True)
    client = signed_in(staff)
    status = client.get(STATUS)
    assert status.status_code == 200
    assert b"Read-only" in status.content
    page = client.get(TRIPS)
    assert page.status_code == 200
    assert b'id="cohort-route-form"' not in page.content
    assert b"partial 5%" in page.content
    response = client.post(TRIPS, {"target": "everyone", "reason": "because"})
    assert response.status_code == 403
    assert RoutingFlag.objects.get(name="route.trips").everyone is None
    assert RoutingChange.objects.count() == 1
    # The flag's own admin pages lead to the same page; there is no other way in.
    flag = RoutingFlag.objects.get(name="route.trips")
    change = client.get(reverse("admin:cohorts_routingflag_change", args=[flag.pk]))
    assert change["Location"] == TRIPS
    assert client.get(reverse("admin:cohorts_routingflag_add")).status_code == 403
    assert (
        client.get(reverse("admin:cohorts_routingflag_delete", args=[flag.pk])).status_code == 403
    )


def test_the_audit_is_read_only_in_the_admin(mover: Any, route: Callable[..., Any]) -> None:
    route(everyone=True, reason="cut over")
    client = signed_in(mover)
    listing = client.get(reverse("admin:cohorts_routingchange_changelist"))
    assert listing.status_code == 200
    assert b"cut over" in listing.content
    record = RoutingChange.objects.get()
    assert client.get(reverse("admin:cohorts_routingchange_add")).status_code == 403
    response = client.post(
        reverse("admin:cohorts_routingchange_change", args=[record.pk]), {"reason": "edited"}
    )
    assert response.status_code == 403
    assert RoutingChange.objects.get().reason == "cut over"


def test_riders_do_not_reach_routing(rider: Any) -> None:
    response = signed_in(rider).get(STATUS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
