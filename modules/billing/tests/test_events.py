"""Billing reacts to TripCompleted: one invoice per trip, then a collection attempt."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modules.billing import api
from modules.billing.models import Invoice, Payment, SandboxCharge, Tariff
from modules.trips.events import TripCompleted
from monolith.platform.events import publish, subscribers_of, subscriptions_only
from monolith.platform.money import Money
from monolith.platform.registry import module_database

# Collection waits for the commit of billing's database.
BILLING_DB = module_database("billing")


@pytest.fixture(autouse=True)
def billing_only() -> Iterator[None]:
    """Deliver TripCompleted to billing alone: other modules' handlers are theirs to test."""
    assert "billing" in subscribers_of(TripCompleted)
    with subscriptions_only(TripCompleted, "billing"):
        yield


def _completed(rider_id: uuid.UUID, trip_id: uuid.UUID | None = None) -> TripCompleted:
    return TripCompleted(
        trip_id=trip_id or uuid.uuid4(),
        rider_id=rider_id,
        vehicle_id=uuid.uuid4(),
        distance_km=Decimal("10.000"),
        duration_seconds=600,
        completed_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    )


def test_event_delivered_twice_issues_one_invoice(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_visa")
    event = _completed(rider.id)
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True):
        publish(event)
        publish(event)

    invoice = Invoice.objects.get(trip_id=event.trip_id)
    assert Invoice.objects.count() == 1
    assert invoice.rider_id == rider.id
    assert invoice.total == Decimal("17.50")
    assert invoice.trip_completed_at == event.completed_at
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1


def test_redelivery_later_charges_nothing_new(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_chargeDeclined")
    event = _completed(rider.id)
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True):
        publish(event)
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True) as callbacks:
        publish(event)
    assert callbacks == []
    assert Payment.objects.get().failure_code == "card_declined"
    assert Invoice.objects.get().status == Invoice.Status.PAYMENT_FAILED


def test_collection_waits_for_the_commit(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_visa")
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=False) as callbacks:
        publish(_completed(rider.id))
    assert len(callbacks) == 1
    assert not SandboxCharge.objects.exists()


def test_gateway_outage_after_commit_leaves_the_invoice_to_retry(
    rider: Any,
    tariff: Tariff,
    card: Callable[[Any, str], None],
    django_capture_on_commit_callbacks: Any,
) -> None:
    card(rider, "tok_processingError")
    with django_capture_on_commit_callbacks(using=BILLING_DB, execute=True):
        publish(_completed(rider.id))
    assert Invoice.objects.get().status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()


def test_without_a_tariff_the_event_is_not_handled(rider: Any, db: Any) -> None:
    with pytest.raises(api.NoTariffInForce):
        publish(_completed(rider.id))
    assert not Invoice.objects.exists()


def test_invoice_for_trip_reads_the_issued_invoice(rider: Any, tariff: Tariff) -> None:
    event = _completed(rider.id)
    publish(event)
    summary = api.invoice_for_trip(trip_id=event.trip_id)
    assert summary.trip_id == event.trip_id
    assert summary.rider_id == rider.id
    assert summary.status == "issued"
    assert summary.total == Money(Decimal("17.50"), "EUR")
    assert summary.number.startswith("INV-")
    assert api.invoice_get(invoice_id=summary.id) == summary
    with pytest.raises(api.InvoiceNotFound):
        api.invoice_for_trip(trip_id=uuid.uuid4())
