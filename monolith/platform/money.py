"""Money as an amount and a currency; never a float."""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from monolith.platform.errors import InvalidRequest

CENT = Decimal("0.01")


def money_round(amount: Decimal) -> Decimal:
    """Round to whole cents with banker's rounding, as invoices are."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code.")


def money_amount_clean(
    amount: object,
    *,
    field: str = "amount",
    allow_negative: bool = False,
    allow_zero: bool = False,
    maximum: Decimal | None = None,
) -> Decimal:
    """``amount`` as a Decimal of whole cents, or ``InvalidRequest`` naming ``field`` and why.

    Positive unless ``allow_negative``; never zero unless ``allow_zero``; at most ``maximum``
    in absolute value when given.
    """
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (ArithmeticError, ValueError, TypeError):
        raise InvalidRequest(f"{amount!r} is not an amount of money.", field=field) from None
    if not value.is_finite():
        raise InvalidRequest(f"{amount!r} is not an amount of money.", field=field)
    if maximum is not None and abs(value) > maximum:
        raise InvalidRequest(f"{field} must be at most {maximum}.", field=field)
    if value != value.quantize(CENT):
        raise InvalidRequest(f"{field} must be in whole cents.", field=field)
    if (value == 0 and not allow_zero) or (value < 0 and not allow_negative):
        wanted = "non-zero" if allow_negative else "greater than zero"
        wanted = "zero or more" if allow_zero and not allow_negative else wanted
        raise InvalidRequest(f"{field} must be {wanted}.", field=field)
    return value.quantize(CENT)
