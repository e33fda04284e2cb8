"""The module's front door: plain functions returning frozen DTOs, never models."""

import dataclasses
import uuid
from decimal import Decimal
from typing import Any

import pytest

from modules.users import api
from monolith.platform.errors import IllegalTransition, InvalidRequest
from monolith.platform.money import Money

pytestmark = pytest.mark.django_db


def test_rider_register_returns_a_summary() -> None:
    summary = api.rider_register(
        username="fay",
        email="fay@example.com",
        password="a-Long-and-Unusual-passphrase-42",
        display_name="Fay",
    )
    assert isinstance(summary, api.RiderSummary)
    assert (summary.username, summary.display_name, summary.email, summary.is_active) == (
        "fay",
        "Fay",
        "fay@example.com",
        True,
    )
    assert api.rider_get(rider_id=summary.id) == summary
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.username = "other"  # type: ignore[misc]


def test_rider_register_names_the_weak_password() -> None:
    with pytest.raises(InvalidRequest) as caught:
        api.rider_register(
            username="gil", email="gil@example.com", password="123", display_name="Gil"
        )
    assert caught.value.field == "password"


def test_rider_get_unknown_or_not_a_rider_is_rider_not_found(staff: Any) -> None:
    with pytest.raises(api.RiderNotFound):
        api.rider_get(rider_id=uuid.uuid4())
    with pytest.raises(api.RiderNotFound):
        api.rider_get(rider_id=staff.id)


def test_wallet_get_creates_an_empty_wallet_on_first_use(rider: Any) -> None:
    wallet = api.wallet_get(rider_id=rider.id)
    assert wallet == api.WalletSummary(
        rider_id=rider.id,
        available=Money(Decimal("0.00"), "EUR"),
        held=Money(Decimal("0.00"), "EUR"),
    )


def test_credit_flow_through_the_front_door(rider: Any) -> None:
    wallet = api.credit_top_up(rider_id=rider.id, amount=Decimal("50.00"), reference="top-1")
    assert wallet.available == Money(Decimal("50.00"), "EUR")
    assert (
        api.credit_top_up(rider_id=rider.id, amount=Decimal("50.00"), reference="top-1") == wallet
    )

    hold = api.credit_hold(rider_id=rider.id, amount=Decimal("20.00"), reference="trip-1")
    assert isinstance(hold, api.CreditHoldSummary)
    assert (hold.rider_id, hold.amount, hold.status, hold.reference) == (
        rider.id,
        Money(Decimal("20.00"), "EUR"),
        "held",
        "trip-1",
    )
    assert api.credit_hold(rider_id=rider.id, amount=Decimal("20.00"), reference="trip-1") == hold
    assert api.credit_hold_get(hold_id=hold.id) == hold

    captured = api.credit_capture(hold_id=hold.id, amount=Decimal("15.00"))
    assert captured.status == "captured"
    assert api.wallet_get(rider_id=rider.id) == api.WalletSummary(
        rider_id=rider.id,
        available=Money(Decimal("35.00"), "EUR"),
        held=Money(Decimal("0.00"), "EUR"),
    )
    with pytest.raises(IllegalTransition):
        api.credit_release(hold_id=hold.id)


def test_credit_hold_insufficient_and_release(rider: Any) -> None:
    api.credit_top_up(rider_id=rider.id, amount=Decimal("10.00"), reference="top-1")
    with pytest.raises(api.InsufficientCredit):
        api.credit_hold(rider_id=rider.id, amount=Decimal("10.01"), reference="trip-1")
    hold = api.credit_hold(rider_id=rider.id, amount=Decimal("10.00"), reference="trip-2")
    released = api.credit_release(hold_id=hold.id)
    assert released.status == "released"
    assert api.credit_release(hold_id=hold.id) == released
    assert api.wallet_get(rider_id=rider.id).available == Money(Decimal("10.00"), "EUR")


def test_unknown_hold_is_credit_hold_not_found(db: Any) -> None:
    with pytest.raises(api.CreditHoldNotFound):
        api.credit_capture(hold_id=uuid.uuid4())
    with pytest.raises(api.CreditHoldNotFound):
        api.credit_hold_get(hold_id=uuid.uuid4())
