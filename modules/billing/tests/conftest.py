"""Fixtures of the billing tests: a tariff in force, invoices issued for made-up trips,
events delivered to billing as the worker does, and trips booked with a credit hold."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from modules.billing import services
from modules.billing.models import Invoice, Tariff
from modules.trips import api as trips_api
from modules.users import api as users_api
from monolith.platform.access import Role
from monolith.platform.events import DomainEvent
from monolith.platform.outbox.machinery import event_deliver

SINCE_2020 = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def tariff(db: Any) -> Tariff:
    """Open-ended since 2020: 2.50 base, 1.20/km, 0.30/min, at least 5.00."""
    return services.tariff_create(
        name="Standard",
        base_fare=Decimal("2.50"),
        per_km=Decimal("1.20"),
        per_minute=Decimal("0.30"),
        minimum_fare=Decimal("5.00"),
        effective_from=SINCE_2020,
    )


@pytest.fixture
def issue(tariff: Tariff) -> Callable[..., Invoice]:
    """Issue an invoice for a new trip of ``rider`` (10 km, 10 minutes: 17.50 by default)."""

    def make(
        rider: Any,
        *,
        distance_km: str = "10.000",
        duration_seconds: int = 600,
        completed_at: datetime | None = None,
    ) -> Invoice:
        return services.invoice_issue_for_trip(
            trip_id=uuid.uuid4(),
            rider_id=rider.id,
            distance_km=Decimal(distance_km),
            duration_seconds=duration_seconds,
            completed_at=completed_at or timezone.now() - timedelta(minutes=1),
        )

    return make


@pytest.fixture
def card(db: Any) -> Callable[[Any, str], None]:
    """Put a sandbox card on file for a rider: ``card(rider, "tok_visa")``."""

    def put(rider: Any, token: str) -> None:
        services.payment_method_set(rider_id=rider.id, card_token=token)

    return put


@pytest.fixture
def superuser(make_user: Callable[..., Any]) -> Any:
    return make_user("boss-bea", Role.FLEET_STAFF, is_staff=True, is_superuser=True)


def deliver(event: DomainEvent, event_id: uuid.UUID | None = None) -> bool:
    """Deliver ``event`` (a new event id unless given) to billing, as the worker does:
    in billing's transaction, recorded in its inbox. False when the inbox says it was done."""
    return event_deliver(
        publisher=event.name.split(".", 1)[0],
        event_id=str(event_id or uuid.uuid4()),
        subscriber="billing",
        name=event.name,
        payload=event.payload(),
    )


@pytest.fixture
def book(db: Any) -> Callable[..., users_api.CreditHoldSummary]:
    """Hold credit for a trip as its booking does: ``book(rider, trip_id, hold="30.00")``.

    The rider is first given ``credit`` (50.00 by default) to hold it from.
    """

    def make(
        rider: Any, trip_id: uuid.UUID, *, hold: str = "30.00", credit: str = "50.00"
    ) -> users_api.CreditHoldSummary:
        users_api.credit_top_up(
            rider_id=rider.id, amount=Decimal(credit), reference=f"credit-for-{trip_id}"
        )
        return users_api.credit_hold(
            rider_id=rider.id,
            amount=Decimal(hold),
            reference=trips_api.booking_credit_reference(trip_id=trip_id),
        )

    return make
