"""Positions on Earth: WGS84 latitude and longitude as Decimals with six places (about 11 cm)."""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from rest_framework import serializers

from monolith.platform.errors import InvalidRequest

COORDINATE_PLACES = 6
COORDINATE_STEP = Decimal(1).scaleb(-COORDINATE_PLACES)
LATITUDE_LIMIT = 90
LONGITUDE_LIMIT = 180


def coordinate_check(*, value: Decimal, limit: int, field: str) -> None:
    """Refuse a coordinate outside ``±limit`` or finer than six places, naming ``field``."""
    if not value.is_finite() or not -limit <= value <= limit:
        raise InvalidRequest(f"{field} must be between -{limit} and {limit}.", field=field)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > COORDINATE_PLACES:
        raise InvalidRequest(
            f"{field} may have at most {COORDINATE_PLACES} decimal places.", field=field
        )


def position_check(*, latitude: Decimal, longitude: Decimal, prefix: str = "") -> None:
    """Refuse a position that is not on Earth; fields are named ``<prefix>latitude`` etc."""
    coordinate_check(value=latitude, limit=LATITUDE_LIMIT, field=f"{prefix}latitude")
    coordinate_check(value=longitude, limit=LONGITUDE_LIMIT, field=f"{prefix}longitude")


class CoordinateField(serializers.DecimalField):
    """A latitude or longitude in a request, rounded to six places rather than refused.

    GPS readings arrive as floats such as ``52.520006599999``; rounding them beats a 400.
    Values far out of range are left unrounded for the range check to refuse (rounding a
    huge number would overflow the decimal context and become a 500).
    """

    def __init__(self, *, limit: int, **kwargs: Any) -> None:
        super().__init__(
            max_digits=COORDINATE_PLACES + len(str(limit)),
            decimal_places=COORDINATE_PLACES,
            min_value=Decimal(-limit),
            max_value=Decimal(limit),
            **kwargs,
        )

    def validate_precision(self, value: Decimal) -> Decimal:
        if value.is_finite() and abs(value) < 1000:
            value = value.quantize(COORDINATE_STEP, rounding=ROUND_HALF_EVEN)
        return super().validate_precision(value)


def latitude_field(**kwargs: Any) -> CoordinateField:
    return CoordinateField(limit=LATITUDE_LIMIT, **kwargs)


def longitude_field(**kwargs: Any) -> CoordinateField:
    return CoordinateField(limit=LONGITUDE_LIMIT, **kwargs)
