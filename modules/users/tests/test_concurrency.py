"""Concurrent movements on one wallet: the row lock keeps balances right and never negative."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from modules.users import services
from modules.users.errors import InsufficientCredit
from modules.users.models import CreditHold, LedgerEntry, Wallet

pytestmark = pytest.mark.django_db(transaction=True)

RunTogether = Callable[..., list[Any]]


def test_concurrent_holds_never_overdraw(funded_rider: Any, run_together: RunTogether) -> None:
    """Two holds of 60.00 against 100.00: exactly one wins, the other is InsufficientCredit."""
    outcomes = run_together(
        lambda: services.credit_hold_create(
            rider_id=funded_rider.id, amount=Decimal("60.00"), reference="trip-a"
        ),
        lambda: services.credit_hold_create(
            rider_id=funded_rider.id, amount=Decimal("60.00"), reference="trip-b"
        ),
    )

    failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(failures) == 1
    assert isinstance(failures[0], InsufficientCredit)
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    assert (wallet.available, wallet.held) == (Decimal("40.00"), Decimal("60.00"))
    assert CreditHold.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="hold").count() == 1


def test_concurrent_top_ups_with_one_reference_add_once(
    funded_rider: Any, run_together: RunTogether
) -> None:
    outcomes = run_together(
        *[
            lambda: services.wallet_top_up(
                rider_id=funded_rider.id, amount=Decimal("20.00"), reference="tap-twice"
            )
            for _ in range(3)
        ]
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert sorted(created for _, created in outcomes) == [False, False, True]
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    assert wallet.available == Decimal("120.00")
    assert LedgerEntry.objects.filter(reference="tap-twice").count() == 1
