"""Concurrent movements on one wallet: the row lock keeps balances right and never negative."""

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from modules.users import services
from modules.users.errors import InsufficientCredit
from modules.users.models import CreditHold, LedgerEntry, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Start every call at the same moment, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_concurrent_holds_never_overdraw(funded_rider: Any) -> None:
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


def test_concurrent_top_ups_with_one_reference_add_once(funded_rider: Any) -> None:
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
