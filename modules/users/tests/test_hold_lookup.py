"""A hold is found by its rider and reference, whatever its state, with what was captured."""

import uuid
from decimal import Decimal
from typing import Any

from modules.users import api
from monolith.platform.money import Money


def test_a_hold_is_found_by_rider_and_reference(rider: Any, other_rider: Any) -> None:
    api.credit_top_up(rider_id=rider.id, amount=Decimal("50.00"), reference="top-1")
    api.credit_top_up(rider_id=other_rider.id, amount=Decimal("50.00"), reference="top-1")
    hold = api.credit_hold(rider_id=rider.id, amount=Decimal("30.00"), reference="trip:1")
    api.credit_hold(rider_id=other_rider.id, amount=Decimal("20.00"), reference="trip:1")

    found = api.credit_hold_find(rider_id=rider.id, reference="trip:1")
    assert found == hold
    assert (found.status, found.captured) == ("held", None)
    assert api.credit_hold_find(rider_id=rider.id, reference="trip:2") is None
    assert api.credit_hold_find(rider_id=uuid.uuid4(), reference="trip:1") is None

    api.credit_capture(hold_id=hold.id, amount=Decimal("12.50"))
    captured = api.credit_hold_find(rider_id=rider.id, reference="trip:1")
    assert captured is not None
    assert (captured.status, captured.captured) == ("captured", Money(Decimal("12.50"), "EUR"))
    assert captured.amount == Money(Decimal("30.00"), "EUR")
    assert api.wallet_get(rider_id=rider.id).available == Money(Decimal("37.50"), "EUR")


def test_a_released_hold_is_found_released(rider: Any) -> None:
    api.credit_top_up(rider_id=rider.id, amount=Decimal("10.00"), reference="top-1")
    hold = api.credit_hold(rider_id=rider.id, amount=Decimal("10.00"), reference="trip:9")
    api.credit_release(hold_id=hold.id)
    found = api.credit_hold_find(rider_id=rider.id, reference="trip:9")
    assert found is not None
    assert (found.status, found.captured) == ("released", None)
