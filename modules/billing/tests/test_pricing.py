"""Pricing: base + distance + time, the minimum fare, rounding, the tariff in force."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError

from modules.billing import api, services
from modules.billing.models import InvoiceLine, Tariff
from modules.billing.pricing import MAX_DISTANCE_KM, MAX_DURATION_SECONDS, fare_for_trip
from monolith.platform.errors import Conflict, InvalidRequest

JAN = datetime(2024, 1, 1, tzinfo=UTC)
JUNE = datetime(2024, 6, 1, tzinfo=UTC)


def _tariff(**overrides: Any) -> Tariff:
    fields: dict[str, Any] = {
        "name": "Test",
        "base_fare": Decimal("2.50"),
        "per_km": Decimal("1.20"),
        "per_minute": Decimal("0.30"),
        "minimum_fare": Decimal("5.00"),
        "effective_from": JAN,
        "effective_to": None,
    }
    fields.update(overrides)
    return services.tariff_create(**fields)


def _lines(invoice: Any) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [
        (line.kind, line.quantity, line.unit_price, line.amount)
        for line in invoice.lines.order_by("position")
    ]


def test_fare_is_base_plus_distance_plus_time(db: Any) -> None:
    tariff = _tariff()
    invoice = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        distance_km=Decimal("10"),
        duration_seconds=600,
        completed_at=JUNE,
    )
    assert _lines(invoice) == [
        (InvoiceLine.Kind.BASE, Decimal("1.000"), Decimal("2.50"), Decimal("2.50")),
        (InvoiceLine.Kind.DISTANCE, Decimal("10.000"), Decimal("1.20"), Decimal("12.00")),
        (InvoiceLine.Kind.TIME, Decimal("10.000"), Decimal("0.30"), Decimal("3.00")),
    ]
    assert invoice.subtotal == Decimal("17.50")
    assert invoice.total == Decimal("17.50")
    assert invoice.tariff_id == tariff.id
    assert invoice.currency == "EUR"
    assert invoice.number.startswith("INV-")


def test_short_trip_is_topped_up_to_the_minimum_fare(db: Any) -> None:
    _tariff()
    invoice = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        distance_km=Decimal("1"),
        duration_seconds=60,
        completed_at=JUNE,
    )
    assert invoice.subtotal == Decimal("4.00")
    assert invoice.total == Decimal("5.00")
    assert _lines(invoice)[-1] == (
        InvoiceLine.Kind.MINIMUM_TOP_UP,
        Decimal("1.000"),
        Decimal("1.00"),
        Decimal("1.00"),
    )


def test_trip_above_the_minimum_has_no_top_up_line(db: Any) -> None:
    tariff = _tariff(minimum_fare=Decimal("4.00"))
    fare = fare_for_trip(tariff=tariff, distance_km=Decimal("1"), duration_seconds=60)
    assert [line.kind for line in fare.lines] == ["base", "distance", "time"]
    assert fare.total == Decimal("4.00")


def test_each_line_is_rounded_to_cents_with_bankers_rounding(db: Any) -> None:
    tariff = _tariff(
        base_fare=Decimal("0.00"),
        per_km=Decimal("1.25"),
        per_minute=Decimal("0.30"),
        minimum_fare=Decimal("0.00"),
    )
    # 0.1 km x 1.25 = 0.125 -> 0.12 (half to even, not 0.13); 100 s = 1.667 min -> 0.5001 -> 0.50
    fare = fare_for_trip(tariff=tariff, distance_km=Decimal("0.1"), duration_seconds=100)
    distance, time = fare.lines[1], fare.lines[2]
    assert distance.amount == Decimal("0.12")
    assert time.quantity == Decimal("1.667")
    assert time.amount == Decimal("0.50")
    assert fare.total == Decimal("0.62")
    # 0.3 km x 1.25 = 0.375 -> 0.38 (the even neighbour upwards)
    fare = fare_for_trip(tariff=tariff, distance_km=Decimal("0.3"), duration_seconds=0)
    assert fare.lines[1].amount == Decimal("0.38")


def test_distance_is_priced_to_the_metre(db: Any) -> None:
    tariff = _tariff()
    fare = fare_for_trip(tariff=tariff, distance_km=Decimal("2.00049"), duration_seconds=0)
    assert fare.lines[1].quantity == Decimal("2.000")
    assert fare.lines[1].amount == Decimal("2.40")


def test_negative_inputs_are_refused(db: Any) -> None:
    tariff = _tariff()
    with pytest.raises(InvalidRequest) as excinfo:
        fare_for_trip(tariff=tariff, distance_km=Decimal("-1"), duration_seconds=0)
    assert excinfo.value.field == "distance_km"
    with pytest.raises(InvalidRequest) as excinfo:
        fare_for_trip(tariff=tariff, distance_km=Decimal("1"), duration_seconds=-5)
    assert excinfo.value.field == "duration_seconds"


def test_the_tariff_in_force_at_completion_prices_the_trip(db: Any) -> None:
    spring = _tariff(name="Spring", effective_to=JUNE)
    summer = _tariff(name="Summer", base_fare=Decimal("4.00"), effective_from=JUNE)

    before = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        distance_km=Decimal("10"),
        duration_seconds=600,
        completed_at=datetime(2024, 5, 31, 23, 59, 59, tzinfo=UTC),
    )
    at_switch = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        distance_km=Decimal("10"),
        duration_seconds=600,
        completed_at=JUNE,
    )
    assert before.tariff_id == spring.id
    assert before.total == Decimal("17.50")
    # effective_to is exclusive: the switch instant belongs to the new tariff.
    assert at_switch.tariff_id == summer.id
    assert at_switch.total == Decimal("19.00")


def test_no_tariff_in_force_is_a_clear_conflict(db: Any) -> None:
    _tariff(effective_from=JUNE)
    with pytest.raises(api.NoTariffInForce) as excinfo:
        services.invoice_issue_for_trip(
            trip_id=uuid.uuid4(),
            rider_id=uuid.uuid4(),
            distance_km=Decimal("1"),
            duration_seconds=60,
            completed_at=JAN,
        )
    assert excinfo.value.status == 409
    assert "No tariff is in force" in excinfo.value.message


def test_overlapping_tariffs_are_refused_naming_effective_from(db: Any) -> None:
    _tariff(effective_to=JUNE)
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(effective_from=datetime(2024, 3, 1, tzinfo=UTC))
    assert excinfo.value.field == "effective_from"
    assert "overlaps" in excinfo.value.message
    # Touching periods do not overlap: the first ends exactly where the next starts.
    assert _tariff(effective_from=JUNE).effective_from == JUNE


def test_an_open_ended_tariff_overlaps_everything_after_it(db: Any) -> None:
    _tariff(effective_from=JUNE)
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(effective_from=JAN, effective_to=datetime(2024, 6, 2, tzinfo=UTC))
    assert excinfo.value.field == "effective_from"


def test_period_must_end_after_it_starts(db: Any) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(effective_from=JUNE, effective_to=JUNE)
    assert excinfo.value.field == "effective_to"
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(effective_from=JUNE, effective_to=JAN)
    assert excinfo.value.field == "effective_to"


def test_naive_and_negative_values_are_refused(db: Any) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(effective_from=datetime(2024, 1, 1))  # noqa: DTZ001
    assert excinfo.value.field == "effective_from"
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(per_km=Decimal("-0.01"))
    assert excinfo.value.field == "per_km"
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(per_minute=Decimal("0.001"))
    assert excinfo.value.field == "per_minute"


def test_the_database_refuses_overlapping_periods_too(db: Any) -> None:
    """The exclusion constraint backs the service check against concurrent creation."""
    _tariff(effective_to=JUNE)
    with pytest.raises(IntegrityError):
        Tariff.objects.create(
            name="Sneaky",
            currency="EUR",
            base_fare=Decimal("1"),
            per_km=Decimal("1"),
            per_minute=Decimal("1"),
            minimum_fare=Decimal("1"),
            effective_from=datetime(2024, 2, 1, tzinfo=UTC),
        )


def test_tariff_with_invoices_keeps_its_prices_but_can_be_closed(db: Any) -> None:
    tariff = _tariff()
    services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        distance_km=Decimal("1"),
        duration_seconds=60,
        completed_at=JUNE,
    )
    with pytest.raises(Conflict) as excinfo:
        services.tariff_update(tariff_id=tariff.id, data={"per_km": Decimal("9.99")})
    assert excinfo.value.field == "per_km"
    with pytest.raises(Conflict) as excinfo:
        services.tariff_update(tariff_id=tariff.id, data={"effective_to": JUNE})
    assert excinfo.value.field == "effective_to"

    closed = services.tariff_update(
        tariff_id=tariff.id,
        data={"effective_to": datetime(2024, 7, 1, tzinfo=UTC), "name": " Old "},
    )
    assert closed.effective_to == datetime(2024, 7, 1, tzinfo=UTC)
    assert closed.name == "Old"
    tariff.refresh_from_db()
    assert tariff.per_km == Decimal("1.20")


def test_tariff_without_invoices_can_be_repriced(db: Any) -> None:
    tariff = _tariff()
    updated = services.tariff_update(tariff_id=tariff.id, data={"per_km": Decimal("1.50")})
    assert updated.per_km == Decimal("1.50")
    with pytest.raises(InvalidRequest) as excinfo:
        services.tariff_update(tariff_id=tariff.id, data={"currency": "USD"})
    assert excinfo.value.field == "currency"


@pytest.mark.parametrize(
    ("field", "too_much"),
    [
        ("base_fare", Decimal("1000.01")),
        ("minimum_fare", Decimal("1000.01")),
        ("per_km", Decimal("100.01")),
        ("per_minute", Decimal("100.01")),
        ("per_km", Decimal("9999999999.99")),
    ],
)
def test_tariff_prices_are_capped(db: Any, field: str, too_much: Decimal) -> None:
    """Prices a trip could multiply past an invoice's 12 digits are refused, naming the field."""
    with pytest.raises(InvalidRequest) as excinfo:
        _tariff(**{field: too_much})
    assert excinfo.value.field == field
    tariff = _tariff()
    with pytest.raises(InvalidRequest) as excinfo:
        services.tariff_update(tariff_id=tariff.id, data={field: too_much})
    assert excinfo.value.field == field


def test_the_longest_trip_at_the_highest_prices_fits_an_invoice(db: Any) -> None:
    _tariff(
        base_fare=Decimal("1000.00"),
        per_km=Decimal("100.00"),
        per_minute=Decimal("100.00"),
        minimum_fare=Decimal("1000.00"),
    )
    invoice = services.invoice_issue_for_trip(
        trip_id=uuid.uuid4(),
        rider_id=uuid.uuid4(),
        distance_km=MAX_DISTANCE_KM,
        duration_seconds=MAX_DURATION_SECONDS,
        completed_at=JUNE,
    )
    invoice.refresh_from_db()
    # 1000.00 + 9999999.999 km x 100.00 + 35791394.117 min x 100.00
    assert invoice.total == Decimal("4579140411.60")


@pytest.mark.parametrize(
    ("distance_km", "duration_seconds", "field"),
    [
        (MAX_DISTANCE_KM + Decimal("0.001"), 60, "distance_km"),
        (Decimal("1E+40"), 60, "distance_km"),
        (Decimal("NaN"), 60, "distance_km"),
        (Decimal("Infinity"), 60, "distance_km"),
        (Decimal("1"), MAX_DURATION_SECONDS + 1, "duration_seconds"),
        (Decimal("1"), 10**40, "duration_seconds"),
    ],
)
def test_trips_too_long_to_invoice_are_refused_naming_the_field(
    db: Any, distance_km: Decimal, duration_seconds: int, field: str
) -> None:
    _tariff()
    with pytest.raises(InvalidRequest) as excinfo:
        api.fare_quote(distance_km=distance_km, duration_seconds=duration_seconds, at=JUNE)
    assert excinfo.value.field == field
