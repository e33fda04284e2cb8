import pytest

from modules.vehicles.lifecycle import (
    ALLOWED_TRANSITIONS,
    VehicleStatus,
    transition_allowed,
    transition_check,
)
from monolith.platform.errors import IllegalTransition

S = VehicleStatus
LEGAL = [
    (S.AVAILABLE, S.RESERVED),
    (S.AVAILABLE, S.CHARGING),
    (S.AVAILABLE, S.MAINTENANCE),
    (S.AVAILABLE, S.OFFLINE),
    (S.RESERVED, S.AVAILABLE),
    (S.RESERVED, S.IN_TRIP),
    (S.RESERVED, S.OFFLINE),
    (S.IN_TRIP, S.AVAILABLE),
    (S.IN_TRIP, S.OFFLINE),
    (S.CHARGING, S.AVAILABLE),
    (S.CHARGING, S.MAINTENANCE),
    (S.CHARGING, S.OFFLINE),
    (S.MAINTENANCE, S.AVAILABLE),
    (S.MAINTENANCE, S.OFFLINE),
    (S.OFFLINE, S.AVAILABLE),
    (S.OFFLINE, S.MAINTENANCE),
]


def test_table_holds_exactly_the_legal_transitions() -> None:
    table = {(src, dst) for src, targets in ALLOWED_TRANSITIONS.items() for dst in targets}
    assert table == set(LEGAL)
    assert set(ALLOWED_TRANSITIONS) == set(VehicleStatus.values)


@pytest.mark.parametrize(("current", "wanted"), LEGAL)
def test_legal_transition_passes(current: str, wanted: str) -> None:
    assert transition_allowed(current, wanted)
    transition_check(current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (S.AVAILABLE, S.IN_TRIP),
        (S.AVAILABLE, S.AVAILABLE),
        (S.RESERVED, S.CHARGING),
        (S.RESERVED, S.MAINTENANCE),
        (S.IN_TRIP, S.RESERVED),
        (S.IN_TRIP, S.MAINTENANCE),
        (S.IN_TRIP, S.CHARGING),
        (S.CHARGING, S.IN_TRIP),
        (S.MAINTENANCE, S.RESERVED),
        (S.MAINTENANCE, S.CHARGING),
        (S.OFFLINE, S.IN_TRIP),
        (S.OFFLINE, S.RESERVED),
    ],
)
def test_illegal_transition_names_both_states(current: str, wanted: str) -> None:
    assert not transition_allowed(current, wanted)
    with pytest.raises(IllegalTransition) as caught:
        transition_check(current, wanted)
    assert repr(str(current)) in caught.value.message
    assert repr(str(wanted)) in caught.value.message
    assert caught.value.status == 409


def test_unknown_current_state_allows_nothing() -> None:
    assert not transition_allowed("scrapped", S.AVAILABLE)
