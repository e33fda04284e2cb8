"""Concurrent deliveries, payment attempts and credit purchases, each on its own connection."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modules.billing import services
from modules.billing.models import CreditPurchase, Invoice, Payment, SandboxCharge
from modules.users import api as users_api
from monolith.platform.access import Role

THREADS = 4
RunTogether = Callable[..., list[Any]]


@pytest.fixture
def standard_tariff(transactional_db: Any) -> None:
    services.tariff_create(
        name="Standard",
        base_fare=Decimal("2.50"),
        per_km=Decimal("1.20"),
        per_minute=Decimal("0.30"),
        minimum_fare=Decimal("5.00"),
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )


def test_one_invoice_when_the_same_trip_arrives_concurrently(
    standard_tariff: None, run_together: RunTogether
) -> None:
    trip_id, rider_id = uuid.uuid4(), uuid.uuid4()

    def issue() -> uuid.UUID:
        return services.invoice_issue_for_trip(
            trip_id=trip_id,
            rider_id=rider_id,
            distance_km=Decimal("3"),
            duration_seconds=300,
            completed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ).id

    outcomes = run_together(*[issue] * THREADS)
    assert all(isinstance(outcome, uuid.UUID) for outcome in outcomes), outcomes
    assert len(set(outcomes)) == 1
    assert Invoice.objects.get().number == "INV-000001"


def test_invoice_numbers_stay_unique_and_gapless_under_load(
    standard_tariff: None, run_together: RunTogether
) -> None:
    def issue() -> str:
        return services.invoice_issue_for_trip(
            trip_id=uuid.uuid4(),
            rider_id=uuid.uuid4(),
            distance_km=Decimal("3"),
            duration_seconds=300,
            completed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ).number

    outcomes = run_together(*[issue] * THREADS)
    assert sorted(outcomes) == [f"INV-{n:06d}" for n in range(1, THREADS + 1)]


def test_concurrent_payment_attempts_charge_once(
    standard_tariff: None, run_together: RunTogether
) -> None:
    rider_id = uuid.uuid4()
    services.payment_method_set(rider_id=rider_id, card_token="tok_visa")
    invoice = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=rider_id,
        distance_km=Decimal("3"),
        duration_seconds=300,
        completed_at=datetime(2024, 1, 1, tzinfo=UTC),
    )

    outcomes = run_together(
        *[lambda: services.invoice_collect_payment(invoice_id=invoice.id)] * THREADS
    )
    succeeded = [o for o in outcomes if isinstance(o, Payment)]
    assert len(succeeded) == 1, outcomes
    assert SandboxCharge.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_one_charge_and_one_credit_when_a_purchase_is_sent_concurrently(
    transactional_db: Any, make_user: Callable[..., Any], run_together: RunTogether
) -> None:
    rider = make_user("rider-rae", Role.RIDER)
    services.payment_method_set(rider_id=rider.id, card_token="tok_visa")
    users_api.wallet_get(rider_id=rider.id)

    def buy() -> tuple[CreditPurchase, bool]:
        return services.credit_purchase_create(
            rider_id=rider.id, amount=Decimal("20.00"), idempotency_key="same"
        )

    outcomes = run_together(*[buy] * THREADS)
    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    assert [created for _, created in outcomes].count(True) == 1
    assert len({purchase.id for purchase, _ in outcomes}) == 1
    assert SandboxCharge.objects.count() == 1
    assert CreditPurchase.objects.get().status == CreditPurchase.Status.SUCCEEDED
    assert users_api.wallet_get(rider_id=rider.id).available.amount == Decimal("20.00")
