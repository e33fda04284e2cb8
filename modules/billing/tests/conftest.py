"""Fixtures of the billing tests: a tariff in force, invoices issued for made-up trips."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from modules.billing import services
from modules.billing.models import Invoice, Tariff
from monolith.platform.access import Role

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
