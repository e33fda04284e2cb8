"""Vehicle identification numbers (ISO 3779) and their North American check digit.

The check digit (position 9) catches most typing mistakes; demo data and tests use
``vin_check_digit`` to build VINs that pass it.
"""

import re

VIN_LENGTH = 17
CHECK_DIGIT_INDEX = 8

# I, O and Q are never used: they read too much like 1 and 0.
_VIN_SHAPE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")

_TRANSLITERATION = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


class InvalidVin(ValueError):
    """The text is not a valid VIN; the message says why."""


def vin_check_digit(vin: str) -> str:
    """The check digit (``0``-``9`` or ``X``) that position 9 of ``vin`` must hold.

    The character already at position 9 does not matter (its weight is zero), so a VIN can be
    completed with ``vin[:8] + vin_check_digit(vin) + vin[9:]``.
    """
    vin = vin.upper()
    if len(vin) != VIN_LENGTH:
        raise InvalidVin(f"A VIN has {VIN_LENGTH} characters, not {len(vin)}.")
    try:
        total = sum(
            _TRANSLITERATION[char] * weight for char, weight in zip(vin, _WEIGHTS, strict=True)
        )
    except KeyError as exc:
        raise InvalidVin(f"A VIN cannot contain {exc.args[0]!r}.") from None
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_normalize(raw: str) -> str:
    """``raw`` upper-cased and stripped, once it is a well-formed VIN with a correct check digit.

    Raises ``InvalidVin`` saying what is wrong.
    """
    vin = raw.strip().upper()
    if len(vin) != VIN_LENGTH:
        raise InvalidVin(f"A VIN has {VIN_LENGTH} characters, not {len(vin)}.")
    if not _VIN_SHAPE.match(vin):
        forbidden = sorted({char for char in vin if char not in _TRANSLITERATION})
        raise InvalidVin(
            "A VIN holds only letters and digits, never I, O or Q; "
            f"found {', '.join(repr(char) for char in forbidden)}."
        )
    expected = vin_check_digit(vin)
    if vin[CHECK_DIGIT_INDEX] != expected:
        raise InvalidVin(
            f"The check digit (9th character) is {vin[CHECK_DIGIT_INDEX]!r} "
            f"but should be {expected!r}; the VIN is mistyped."
        )
    return vin
