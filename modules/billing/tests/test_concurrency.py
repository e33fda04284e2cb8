"""Concurrent deliveries and payment attempts, each on its own database connection."""

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from modules.billing import services
from modules.billing.models import Invoice, Payment, SandboxCharge

THREADS = 4


def _race(work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in THREADS threads released together; their results or exceptions."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            outcome = work()
        except Exception as exc:
            outcome = exc
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


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


def test_one_invoice_when_the_same_trip_arrives_concurrently(standard_tariff: None) -> None:
    trip_id, rider_id = uuid.uuid4(), uuid.uuid4()

    def issue() -> uuid.UUID:
        return services.invoice_issue_for_trip(
            trip_id=trip_id,
            rider_id=rider_id,
            distance_km=Decimal("3"),
            duration_seconds=300,
            completed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ).id

    outcomes = _race(issue)
    assert all(isinstance(outcome, uuid.UUID) for outcome in outcomes), outcomes
    assert len(set(outcomes)) == 1
    assert Invoice.objects.get().number == "INV-000001"


def test_invoice_numbers_stay_unique_and_gapless_under_load(standard_tariff: None) -> None:
    def issue() -> str:
        return services.invoice_issue_for_trip(
            trip_id=uuid.uuid4(),
            rider_id=uuid.uuid4(),
            distance_km=Decimal("3"),
            duration_seconds=300,
            completed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ).number

    outcomes = _race(issue)
    assert sorted(outcomes) == [f"INV-{n:06d}" for n in range(1, THREADS + 1)]


def test_concurrent_payment_attempts_charge_once(standard_tariff: None) -> None:
    rider_id = uuid.uuid4()
    services.payment_method_set(rider_id=rider_id, card_token="tok_visa")
    invoice = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=rider_id,
        distance_km=Decimal("3"),
        duration_seconds=300,
        completed_at=datetime(2024, 1, 1, tzinfo=UTC),
    )

    outcomes = _race(lambda: services.invoice_collect_payment(invoice_id=invoice.id))
    succeeded = [o for o in outcomes if isinstance(o, Payment)]
    assert len(succeeded) == 1, outcomes
    assert SandboxCharge.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
