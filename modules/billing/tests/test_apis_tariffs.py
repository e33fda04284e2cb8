"""REST: /api/v1/billing/tariffs/ — riders read prices, staff set them."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from modules.billing import services
from modules.billing.models import Tariff

ClientFor = Callable[[Any], APIClient]
URL = "/api/v1/billing/tariffs/"

NEW_TARIFF = {
    "name": "Night",
    "base_fare": "3.00",
    "per_km": "1.50",
    "per_minute": "0.40",
    "minimum_fare": "6.00",
    "effective_from": "2030-01-01T00:00:00Z",
    "effective_to": "2031-01-01T00:00:00Z",
}


def test_anyone_signed_in_reads_tariffs(client_for: ClientFor, rider: Any, tariff: Tariff) -> None:
    response = client_for(rider).get(URL)
    assert response.status_code == 200
    assert response.data["count"] == 1
    row = response.data["results"][0]
    assert row["id"] == str(tariff.id)
    assert row["per_km"] == "1.20"
    assert row["currency"] == "EUR"
    assert row["effective_to"] is None


def test_anonymous_gets_401_everywhere(client_for: ClientFor, tariff: Tariff) -> None:
    anonymous = client_for(None)
    assert anonymous.get(URL).status_code == 401
    assert anonymous.post(URL, NEW_TARIFF).status_code == 401
    assert anonymous.get(f"{URL}current/").status_code == 401
    assert anonymous.get(f"{URL}{tariff.id}/").status_code == 401
    assert anonymous.patch(f"{URL}{tariff.id}/", {"name": "x"}).status_code == 401


def test_staff_creates_a_tariff(client_for: ClientFor, staff: Any) -> None:
    response = client_for(staff).post(URL, NEW_TARIFF)
    assert response.status_code == 201, response.data
    tariff = Tariff.objects.get(id=response.data["id"])
    assert tariff.per_minute == Decimal("0.40")
    assert tariff.currency == "EUR"
    assert tariff.effective_to == datetime(2031, 1, 1, tzinfo=UTC)


def test_rider_cannot_create_or_change_tariffs(
    client_for: ClientFor, rider: Any, tariff: Tariff
) -> None:
    client = client_for(rider)
    assert client.post(URL, NEW_TARIFF).status_code == 403
    assert client.patch(f"{URL}{tariff.id}/", {"name": "Cheap"}).status_code == 403
    assert Tariff.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"per_km": "-1.00"}, "per_km"),
        ({"base_fare": "abc"}, "base_fare"),
        ({"effective_from": "tomorrow"}, "effective_from"),
        ({"effective_to": "2029-12-31T00:00:00Z"}, "effective_to"),
    ],
)
def test_create_validation_names_the_field(
    client_for: ClientFor, staff: Any, change: dict[str, str], field: str
) -> None:
    response = client_for(staff).post(URL, {**NEW_TARIFF, **change})
    assert response.status_code == 400
    assert field in response.data


def test_overlapping_period_is_400_naming_effective_from(
    client_for: ClientFor, staff: Any, tariff: Tariff
) -> None:
    response = client_for(staff).post(URL, NEW_TARIFF)
    assert response.status_code == 400
    assert "effective_from" in response.data
    assert "Standard" in response.data["effective_from"][0]


def test_current_tariff(client_for: ClientFor, rider: Any, tariff: Tariff) -> None:
    response = client_for(rider).get(f"{URL}current/")
    assert response.status_code == 200
    assert response.data["id"] == str(tariff.id)


def test_current_tariff_404_when_none_in_force(client_for: ClientFor, rider: Any) -> None:
    services.tariff_create(
        name="Future",
        base_fare=Decimal("1"),
        per_km=Decimal("1"),
        per_minute=Decimal("1"),
        minimum_fare=Decimal("1"),
        effective_from=datetime(2099, 1, 1, tzinfo=UTC),
    )
    response = client_for(rider).get(f"{URL}current/")
    assert response.status_code == 404
    assert response.data["code"] == "tariff_not_found"


def test_tariff_detail(client_for: ClientFor, rider: Any, tariff: Tariff) -> None:
    response = client_for(rider).get(f"{URL}{tariff.id}/")
    assert response.status_code == 200
    assert response.data["name"] == "Standard"
    assert client_for(rider).get(f"{URL}{uuid.uuid4()}/").status_code == 404


def test_staff_patches_a_tariff(client_for: ClientFor, staff: Any, tariff: Tariff) -> None:
    response = client_for(staff).patch(
        f"{URL}{tariff.id}/", {"per_km": "1.30", "effective_to": "2040-01-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.data
    assert response.data["per_km"] == "1.30"
    tariff.refresh_from_db()
    assert tariff.effective_to == datetime(2040, 1, 1, tzinfo=UTC)


def test_patch_validation_and_conflicts(
    client_for: ClientFor, staff: Any, rider: Any, issue: Callable[..., Any], tariff: Tariff
) -> None:
    client = client_for(staff)
    response = client.patch(f"{URL}{tariff.id}/", {"effective_to": "2019-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert "effective_to" in response.data

    issue(rider)
    response = client.patch(f"{URL}{tariff.id}/", {"base_fare": "9.00"})
    assert response.status_code == 409
    assert "base_fare" in response.data
    assert client.patch(f"{URL}{uuid.uuid4()}/", {"name": "x"}).status_code == 404


HUGE_NUMBERS = [1e40, "1e40", -1e40, 99999999999999, "9999999999.99", "NaN", "-Infinity"]
PRICE_CAPS = {"base_fare": "1000", "minimum_fare": "1000", "per_km": "100", "per_minute": "100"}


@pytest.mark.parametrize("field", list(PRICE_CAPS))
@pytest.mark.parametrize("value", HUGE_NUMBERS)
def test_huge_prices_are_400_naming_the_field(
    client_for: ClientFor, staff: Any, tariff: Tariff, field: str, value: Any
) -> None:
    client = client_for(staff)
    response = client.post(URL, {**NEW_TARIFF, field: value}, format="json")
    assert response.status_code == 400
    assert field in response.data
    response = client.patch(f"{URL}{tariff.id}/", {field: value}, format="json")
    assert response.status_code == 400
    assert field in response.data


@pytest.mark.parametrize(("field", "cap"), list(PRICE_CAPS.items()))
def test_prices_just_above_their_cap_are_400(
    client_for: ClientFor, staff: Any, field: str, cap: str
) -> None:
    client = client_for(staff)
    response = client.post(URL, {**NEW_TARIFF, field: str(Decimal(cap) + Decimal("0.01"))})
    assert response.status_code == 400
    assert field in response.data
    assert client.post(URL, {**NEW_TARIFF, field: cap}).status_code == 201
