"""The users REST API: sign-up, the signed-in rider's profile and wallet, staff endpoints."""

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from modules.users import services
from modules.users.models import LedgerEntry, Rider, Wallet
from monolith.platform.access import Role

pytestmark = pytest.mark.django_db

BASE = "/api/v1/users"
STRONG_PASSWORD = "a-Long-and-Unusual-passphrase-42"
ClientFor = Callable[[Any], APIClient]


def sign_up(client: APIClient, username: str = "hana", **overrides: Any) -> Any:
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "password": STRONG_PASSWORD,
        "display_name": username.title(),
        **overrides,
    }
    return client.post(f"{BASE}/riders/", body, format="json")


def pages_of_5_and_50(client: APIClient, url: str, assert_num_queries: Any, *, queries: int) -> Any:
    """Fetch pages of 5 and 50 of a 60-row list, each in ``queries`` queries; the large page."""
    client.get(url)  # warm up content types and the like
    with assert_num_queries(queries):
        small = client.get(url, {"page_size": 5})
    with assert_num_queries(queries):
        large = client.get(url, {"page_size": 50})
    assert len(small.json()["results"]) == 5
    assert len(large.json()["results"]) == 50
    assert large.json()["count"] == 60
    return large.json()


# Sign-up


def test_sign_up_creates_a_rider_and_never_returns_the_password() -> None:
    response = sign_up(APIClient())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "hana"
    assert body["display_name"] == "Hana"
    assert body["preferred_language"] == "en"
    assert body["preferences"]["notify_by_email"] is True
    assert "password" not in body
    assert STRONG_PASSWORD not in response.content.decode()
    user = get_user_model().objects.get(username="hana")
    assert body["id"] == str(user.id)
    assert user.groups.filter(name=Role.RIDER.value).exists()
    assert Wallet.objects.filter(rider_id=user.id).exists()


def test_sign_up_duplicate_username_is_400_naming_username() -> None:
    client = APIClient()
    assert sign_up(client).status_code == 201
    response = sign_up(client, email="another@example.com")
    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("password", ["short", "password", "1234567890123"])
def test_sign_up_weak_password_is_400_naming_password(password: str) -> None:
    response = sign_up(APIClient(), password=password)
    assert response.status_code == 400
    assert "password" in response.json()
    assert not get_user_model().objects.filter(username="hana").exists()


@pytest.mark.parametrize("missing", ["username", "email", "password", "display_name"])
def test_sign_up_missing_field_is_400_naming_it(missing: str) -> None:
    body = {
        "username": "ivo",
        "email": "ivo@example.com",
        "password": STRONG_PASSWORD,
        "display_name": "Ivo",
    }
    del body[missing]
    response = APIClient().post(f"{BASE}/riders/", body, format="json")
    assert response.status_code == 400
    assert missing in response.json()


def test_sign_up_is_throttled_per_address() -> None:
    client = APIClient()
    statuses = [sign_up(client, username=f"user{index}").status_code for index in range(11)]
    assert statuses == [201] * 10 + [429]
    # Another address has its own allowance.
    elsewhere = APIClient(REMOTE_ADDR="203.0.113.9")
    assert sign_up(elsewhere, username="faraway").status_code == 201


def test_sign_up_throttle_counts_signed_in_callers_by_address(
    rider: Any, client_for: ClientFor
) -> None:
    """A token does not buy more sign-ups: the address's allowance is shared by everyone."""
    anonymous = APIClient()
    for index in range(10):
        assert sign_up(anonymous, username=f"user{index}").status_code == 201

    response = sign_up(client_for(rider), username="one-more")

    assert response.status_code == 429
    assert not get_user_model().objects.filter(username="one-more").exists()


def test_refused_sign_ups_of_signed_in_callers_use_up_the_allowance(
    rider: Any, client_for: ClientFor
) -> None:
    signed_in = client_for(rider)
    statuses = [sign_up(signed_in, username=f"user{index}").status_code for index in range(11)]
    assert statuses == [403] * 10 + [429]
    assert sign_up(APIClient(), username="anon").status_code == 429


@pytest.mark.parametrize("who", ["rider", "staff"])
def test_sign_up_while_signed_in_is_403(
    request: pytest.FixtureRequest, client_for: ClientFor, who: str
) -> None:
    response = sign_up(client_for(request.getfixturevalue(who)), username="second-account")

    assert response.status_code == 403
    assert response.json()["code"] == "already_signed_in"
    assert "signed in" in response.json()["detail"]
    assert not get_user_model().objects.filter(username="second-account").exists()


# /me/


def test_me_needs_sign_in() -> None:
    client = APIClient()
    assert client.get(f"{BASE}/me/").status_code == 401
    assert client.patch(f"{BASE}/me/", {"display_name": "x"}, format="json").status_code == 401
    assert client.get(f"{BASE}/me/wallet/").status_code == 401
    assert client.get(f"{BASE}/me/wallet/ledger/").status_code == 401


def test_me_shows_the_signed_in_riders_profile(rider: Any, client_for: ClientFor) -> None:
    response = client_for(rider).get(f"{BASE}/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(rider.id)
    assert body["username"] == rider.username
    assert set(body["preferences"]) == {
        "notify_by_email",
        "notify_by_sms",
        "notify_by_push",
        "wheelchair_accessible",
        "quiet_ride",
        "marketing_opt_in",
    }


def test_me_without_rider_profile_is_404_saying_so(staff: Any, client_for: ClientFor) -> None:
    response = client_for(staff).get(f"{BASE}/me/")
    assert response.status_code == 404
    assert "rider profile" in response.json()["detail"]
    assert client_for(staff).get(f"{BASE}/me/wallet/").status_code == 404


def test_me_patch_changes_profile_and_preferences(rider: Any, client_for: ClientFor) -> None:
    response = client_for(rider).patch(
        f"{BASE}/me/",
        {
            "phone": "+4915112345678",
            "home_city": "Berlin",
            "preferred_language": "de",
            "preferences": {"wheelchair_accessible": True, "notify_by_sms": True},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["phone"] == "+4915112345678"
    assert body["preferences"]["wheelchair_accessible"] is True
    assert body["preferences"]["notify_by_email"] is True
    profile = Rider.objects.get(pk=rider.id)
    assert (profile.home_city, profile.preferred_language, profile.notify_by_sms) == (
        "Berlin",
        "de",
        True,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "0151 1234567"}, "phone"),
        ({"phone": "+0123"}, "phone"),
        ({"preferred_language": "xx"}, "preferred_language"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_me_patch_validation_names_the_field(
    rider: Any, client_for: ClientFor, body: dict[str, Any], field: str
) -> None:
    response = client_for(rider).patch(f"{BASE}/me/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_me_patch_ignores_read_only_fields(rider: Any, client_for: ClientFor) -> None:
    response = client_for(rider).patch(
        f"{BASE}/me/", {"username": "someone-else", "email": "x@example.com"}, format="json"
    )
    assert response.status_code == 200
    rider.refresh_from_db()
    assert (rider.username, rider.email) == ("rider-ann", "rider-ann@example.com")


# Wallet


def test_wallet_shows_balances_and_currency(funded_rider: Any, client_for: ClientFor) -> None:
    services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    response = client_for(funded_rider).get(f"{BASE}/me/wallet/")
    assert response.status_code == 200
    assert response.json() == {"available": "70.00", "held": "30.00", "currency": "EUR"}


@pytest.mark.parametrize("method", ["get", "post"])
def test_riders_cannot_top_up_their_own_wallet(
    rider: Any, client_for: ClientFor, method: str
) -> None:
    """Credit comes from billing (after a card payment) or staff, never from the rider's say-so."""
    client = client_for(rider)
    body = {"amount": "500.00", "reference": "free-money"}
    response = getattr(client, method)(f"{BASE}/me/wallet/top-ups/", body, format="json")

    assert response.status_code == 404
    assert client.get(f"{BASE}/me/wallet/").json()["available"] == "0.00"
    assert not LedgerEntry.objects.exists()


def test_ledger_is_newest_first_paginated_and_filterable(
    funded_rider: Any, client_for: ClientFor
) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    services.credit_hold_capture(hold_id=hold.id, amount=Decimal("10.00"))
    client = client_for(funded_rider)

    body = client.get(f"{BASE}/me/wallet/ledger/").json()
    assert body["count"] == 4
    assert [entry["kind"] for entry in body["results"]] == ["release", "capture", "hold", "top_up"]
    assert body["results"][0]["currency"] == "EUR"

    page = client.get(f"{BASE}/me/wallet/ledger/", {"page_size": 1, "page": 2}).json()
    assert [entry["kind"] for entry in page["results"]] == ["capture"]

    holds = client.get(f"{BASE}/me/wallet/ledger/", {"kind": "hold"}).json()
    assert [entry["kind"] for entry in holds["results"]] == ["hold"]
    assert client.get(f"{BASE}/me/wallet/ledger/", {"kind": "nope"}).status_code == 400


def test_ledger_query_count_is_the_same_for_any_page_size(
    rider: Any, client_for: ClientFor, assert_num_queries_all_databases: Any
) -> None:
    for index in range(60):
        services.wallet_top_up(rider_id=rider.id, amount=Decimal("1.00"), reference=f"r{index}")

    # Token lookup, the rider, the wallet, the count and the page (entries with their wallet).
    page = pages_of_5_and_50(
        client_for(rider), f"{BASE}/me/wallet/ledger/", assert_num_queries_all_databases, queries=5
    )
    assert {entry["currency"] for entry in page["results"]} == {"EUR"}


def test_riders_see_only_their_own_wallet_and_ledger(
    funded_rider: Any, other_rider: Any, client_for: ClientFor
) -> None:
    client = client_for(other_rider)
    assert client.get(f"{BASE}/me/wallet/").json()["available"] == "0.00"
    assert client.get(f"{BASE}/me/wallet/ledger/").json()["count"] == 0
    assert client.get(f"{BASE}/me/").json()["id"] == str(other_rider.id)
    # Another rider's record is out of reach: staff endpoints refuse riders outright.
    assert client.get(f"{BASE}/riders/{funded_rider.id}/").status_code == 403


# Staff endpoints


@pytest.mark.parametrize(
    ("who", "expected"), [(None, 401), ("rider", 403), ("migration_member", 403), ("staff", 200)]
)
def test_staff_endpoints_permission_matrix(
    request: pytest.FixtureRequest,
    client_for: ClientFor,
    funded_rider: Any,
    who: str | None,
    expected: int,
) -> None:
    user = request.getfixturevalue(who) if who else None
    client = client_for(user)
    adjustment = {"amount": "1.00", "memo": "goodwill"}

    assert client.get(f"{BASE}/riders/").status_code == expected
    assert client.get(f"{BASE}/riders/{funded_rider.id}/").status_code == expected
    response = client.post(
        f"{BASE}/riders/{funded_rider.id}/wallet/adjustments/", adjustment, format="json"
    )
    assert response.status_code == (201 if expected == 200 else expected)


def test_staff_rider_detail_has_profile_and_wallet(
    funded_rider: Any, staff: Any, client_for: ClientFor
) -> None:
    services.rider_provision(user_id=funded_rider.id)
    body = client_for(staff).get(f"{BASE}/riders/{funded_rider.id}/").json()
    assert body["id"] == str(funded_rider.id)
    assert body["is_active"] is True
    assert body["wallet"] == {"available": "100.00", "held": "0.00", "currency": "EUR"}


def test_staff_rider_detail_unknown_id_is_404(staff: Any, client_for: ClientFor) -> None:
    response = client_for(staff).get(f"{BASE}/riders/{uuid.uuid4()}/")
    assert response.status_code == 404
    response = client_for(staff).get(f"{BASE}/riders/{staff.id}/")
    assert response.status_code == 404


def test_staff_adjustment_debits_with_memo(
    funded_rider: Any, staff: Any, client_for: ClientFor
) -> None:
    response = client_for(staff).post(
        f"{BASE}/riders/{funded_rider.id}/wallet/adjustments/",
        {"amount": "-5.00", "memo": "goodwill reversal"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["amount"], body["memo"], body["available_after"]) == (
        "adjustment",
        "-5.00",
        "goodwill reversal",
        "95.00",
    )
    entry = LedgerEntry.objects.get(pk=body["id"])
    assert entry.created_by_id == staff.id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "0.00", "memo": "x"}, "amount"),
        ({"amount": "5.00", "memo": ""}, "memo"),
        ({"amount": "5.00"}, "memo"),
        ({"memo": "x"}, "amount"),
    ],
)
def test_staff_adjustment_validation(
    funded_rider: Any, staff: Any, client_for: ClientFor, body: dict[str, str], field: str
) -> None:
    response = client_for(staff).post(
        f"{BASE}/riders/{funded_rider.id}/wallet/adjustments/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()


def test_staff_adjustment_overdraft_is_409(
    funded_rider: Any, staff: Any, client_for: ClientFor
) -> None:
    response = client_for(staff).post(
        f"{BASE}/riders/{funded_rider.id}/wallet/adjustments/",
        {"amount": "-100.01", "memo": "too much"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_credit"
    assert Wallet.objects.get(rider_id=funded_rider.id).available == Decimal("100.00")


def test_staff_adjustment_unknown_rider_is_404(staff: Any, client_for: ClientFor) -> None:
    response = client_for(staff).post(
        f"{BASE}/riders/{uuid.uuid4()}/wallet/adjustments/",
        {"amount": "5.00", "memo": "x"},
        format="json",
    )
    assert response.status_code == 404


def test_staff_list_searches_and_filters(
    staff: Any, client_for: ClientFor, registered_rider: Rider
) -> None:
    other = services.rider_register(
        username="jon", email="jon@fleet.example", password=STRONG_PASSWORD, display_name="Jonas"
    )
    services.rider_update(rider=other, data={"home_city": "Lyon"})
    get_user_model().objects.filter(pk=other.pk).update(is_active=False)
    client = client_for(staff)

    def usernames(**params: Any) -> list[str]:
        response = client.get(f"{BASE}/riders/", params)
        assert response.status_code == 200
        return sorted(item["username"] for item in response.json()["results"])

    assert usernames() == ["carla", "jon"]
    assert usernames(search="fleet.example") == ["jon"]
    assert usernames(search="CARL") == ["carla"]
    assert usernames(search="jonas") == ["jon"]
    assert usernames(home_city="lyon") == ["jon"]
    assert usernames(is_active="false") == ["jon"]
    assert usernames(is_active="true") == ["carla"]
    response = client.get(f"{BASE}/riders/", {"ordering": "display_name"})
    assert [item["display_name"] for item in response.json()["results"]] == ["Carla", "Jonas"]


def test_staff_list_query_count_is_the_same_for_any_page_size(
    staff: Any, client_for: ClientFor, assert_num_queries_all_databases: Any
) -> None:
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [
            user_model(username=f"bulk{index}", email=f"bulk{index}@example.com")
            for index in range(60)
        ]
    )
    riders = Rider.objects.bulk_create(
        [Rider(id=user.id, display_name=f"Bulk {index}") for index, user in enumerate(users)]
    )
    Wallet.objects.bulk_create([Wallet(rider=rider, currency="EUR") for rider in riders])

    # Token lookup, the staff member's roles, the count, the page and the page's accounts
    # (read by id: they may be in another database).
    pages_of_5_and_50(
        client_for(staff), f"{BASE}/riders/", assert_num_queries_all_databases, queries=5
    )
