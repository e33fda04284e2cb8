"""The fare of a trip under a tariff: one priced line per component, rounded per line.

Pure arithmetic on values, no database, so quoting and invoicing price a trip identically.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from modules.billing.models import InvoiceLine, Tariff
from monolith.platform.errors import InvalidRequest
from monolith.platform.money import money_round

# Quantities are shown and priced at this precision (a metre, or 60 ms of a minute), so
# every line's amount is exactly its displayed quantity times its unit price, rounded.
QUANTITY_STEP = Decimal("0.001")
SECONDS_PER_MINUTE = Decimal(60)
# The longest trip an invoice records (its trip_distance_km and trip_duration_seconds columns).
MAX_DISTANCE_KM = Decimal("9999999.999")
MAX_DURATION_SECONDS = 2_147_483_647


@dataclass(frozen=True, slots=True, kw_only=True)
class FareLine:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Fare:
    lines: tuple[FareLine, ...]
    subtotal: Decimal
    total: Decimal
    currency: str


def _line(kind: str, description: str, quantity: Decimal, unit_price: Decimal) -> FareLine:
    return FareLine(
        kind=kind,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        amount=money_round(quantity * unit_price),
    )


def fare_for_trip(*, tariff: Tariff, distance_km: Decimal, duration_seconds: int) -> Fare:
    """Base fare + km x per_km + minutes x per_minute, topped up to the minimum fare."""
    if not Decimal(distance_km).is_finite() or not 0 <= distance_km <= MAX_DISTANCE_KM:
        raise InvalidRequest(
            f"distance_km must be between 0 and {MAX_DISTANCE_KM}.", field="distance_km"
        )
    if not 0 <= duration_seconds <= MAX_DURATION_SECONDS:
        raise InvalidRequest(
            f"duration_seconds must be between 0 and {MAX_DURATION_SECONDS}.",
            field="duration_seconds",
        )
    kilometres = Decimal(distance_km).quantize(QUANTITY_STEP, rounding=ROUND_HALF_EVEN)
    minutes = (Decimal(duration_seconds) / SECONDS_PER_MINUTE).quantize(
        QUANTITY_STEP, rounding=ROUND_HALF_EVEN
    )
    lines = [
        _line(InvoiceLine.Kind.BASE, "Base fare", Decimal(1), tariff.base_fare),
        _line(InvoiceLine.Kind.DISTANCE, "Distance (km)", kilometres, tariff.per_km),
        _line(InvoiceLine.Kind.TIME, "Time (minutes)", minutes, tariff.per_minute),
    ]
    subtotal = sum((line.amount for line in lines), Decimal("0.00"))
    if subtotal < tariff.minimum_fare:
        lines.append(
            _line(
                InvoiceLine.Kind.MINIMUM_TOP_UP,
                "Minimum fare top-up",
                Decimal(1),
                tariff.minimum_fare - subtotal,
            )
        )
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Fare(lines=tuple(lines), subtotal=subtotal, total=total, currency=tariff.currency)
