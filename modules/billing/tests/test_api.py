"""The module's front door (api.py) returns DTOs, never models."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from modules.billing import api
from modules.billing.models import Tariff
from monolith.platform.errors import InvalidRequest
from monolith.platform.money import Money


def test_tariff_in_force(tariff: Tariff) -> None:
    summary = api.tariff_in_force(at=datetime(2024, 1, 1, tzinfo=UTC))
    assert summary.id == tariff.id
    assert summary.per_km == Money(Decimal("1.20"), "EUR")
    assert summary.effective_to is None
    with pytest.raises(api.NoTariffInForce):
        api.tariff_in_force(at=datetime(2019, 1, 1, tzinfo=UTC))


def test_fare_quote_prices_like_an_invoice(tariff: Tariff) -> None:
    quote = api.fare_quote(
        distance_km=Decimal("10"), duration_seconds=600, at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert quote == api.FareQuote(
        tariff_id=tariff.id,
        subtotal=Money(Decimal("17.50"), "EUR"),
        total=Money(Decimal("17.50"), "EUR"),
    )
    short = api.fare_quote(
        distance_km=Decimal("0.5"), duration_seconds=30, at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert short.total == Money(Decimal("5.00"), "EUR")
    with pytest.raises(InvalidRequest):
        api.fare_quote(
            distance_km=Decimal("-1"), duration_seconds=0, at=datetime(2024, 1, 1, tzinfo=UTC)
        )


def test_invoice_lookups_raise_not_found(db: Any) -> None:
    with pytest.raises(api.InvoiceNotFound):
        api.invoice_get(invoice_id=uuid.uuid4())
    with pytest.raises(api.InvoiceNotFound):
        api.invoice_for_trip(trip_id=uuid.uuid4())
