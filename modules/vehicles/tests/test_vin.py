import pytest

from modules.vehicles.tests.conftest import make_vin
from modules.vehicles.vin import InvalidVin, vin_check_digit, vin_normalize


@pytest.mark.parametrize(
    ("vin", "digit"),
    [("1M8GDM9AXKP042788", "X"), ("11111111111111111", "1"), ("1HGCM82633A004352", "3")],
)
def test_check_digit_of_known_vins(vin: str, digit: str) -> None:
    assert vin_check_digit(vin) == digit


def test_good_vin_is_normalized_to_upper_case() -> None:
    assert vin_normalize("  1m8gdm9axkp042788 ") == "1M8GDM9AXKP042788"


def test_generated_vins_are_valid() -> None:
    for serial in (1, 42, 99999999):
        assert vin_normalize(make_vin(serial)) == make_vin(serial)


@pytest.mark.parametrize("vin", ["1M8GDM9AXKP04278", "1M8GDM9AXKP0427880", ""])
def test_wrong_length_is_refused(vin: str) -> None:
    with pytest.raises(InvalidVin, match="17 characters"):
        vin_normalize(vin)


@pytest.mark.parametrize("letter", ["I", "O", "Q"])
def test_forbidden_letters_are_refused(letter: str) -> None:
    vin = "1M8GDM9AXKP04278" + letter
    with pytest.raises(InvalidVin, match="never I, O or Q"):
        vin_normalize(vin)


def test_punctuation_is_refused() -> None:
    with pytest.raises(InvalidVin, match="'-'"):
        vin_normalize("1M8GDM9AXKP04278-")


def test_bad_check_digit_is_refused() -> None:
    with pytest.raises(InvalidVin, match="check digit"):
        vin_normalize("1M8GDM9A1KP042788")


def test_check_digit_needs_seventeen_characters() -> None:
    with pytest.raises(InvalidVin):
        vin_check_digit("1M8")
