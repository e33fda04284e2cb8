import itertools

import pytest

from modules.vehicles.lifecycle import (
    MANUAL_LIFECYCLE,
    TRIP_STEPS,
    VEHICLE_LIFECYCLE,
    VehicleStatus,
)
from monolith.platform.errors import IllegalTransition
from monolith.platform.lifecycle import Lifecycle

S = VehicleStatus
# What staff may do by hand: move among the statuses of a vehicle not in use, and take a
# reserved or travelling vehicle offline when it stops answering.
MANUAL: set[tuple[str, str]] = {
    (S.AVAILABLE, S.CHARGING),
    (S.AVAILABLE, S.MAINTENANCE),
    (S.AVAILABLE, S.OFFLINE),
    (S.RESERVED, S.OFFLINE),
    (S.IN_TRIP, S.OFFLINE),
    (S.CHARGING, S.AVAILABLE),
    (S.CHARGING, S.MAINTENANCE),
    (S.CHARGING, S.OFFLINE),
    (S.MAINTENANCE, S.AVAILABLE),
    (S.MAINTENANCE, S.OFFLINE),
    (S.OFFLINE, S.AVAILABLE),
    (S.OFFLINE, S.MAINTENANCE),
}
# What only a trip does to the vehicle it holds: reserve, start, release, end.
BY_TRIP_ONLY: set[tuple[str, str]] = {
    (S.AVAILABLE, S.RESERVED),
    (S.RESERVED, S.IN_TRIP),
    (S.RESERVED, S.AVAILABLE),
    (S.IN_TRIP, S.AVAILABLE),
}
LEGAL = MANUAL | BY_TRIP_ONLY
EVERY_PAIR = list(itertools.product(S.values, S.values))


def _steps(lifecycle: Lifecycle) -> set[tuple[str, str]]:
    return {(src, dst) for src, targets in lifecycle.transitions.items() for dst in targets}


def test_table_holds_exactly_the_legal_transitions() -> None:
    assert _steps(VEHICLE_LIFECYCLE) == LEGAL
    assert set(VEHICLE_LIFECYCLE.transitions) == set(S.values)


def test_manual_steps_are_the_table_without_the_trip_steps() -> None:
    assert TRIP_STEPS == BY_TRIP_ONLY
    assert _steps(MANUAL_LIFECYCLE) == MANUAL
    assert set(MANUAL_LIFECYCLE.transitions) == set(S.values)


def test_no_manual_step_enters_a_trip_status() -> None:
    assert not {dst for _, dst in MANUAL} & {S.RESERVED, S.IN_TRIP}


@pytest.mark.parametrize(("current", "wanted"), EVERY_PAIR)
def test_only_listed_steps_pass(current: str, wanted: str) -> None:
    for lifecycle, allowed in ((VEHICLE_LIFECYCLE, LEGAL), (MANUAL_LIFECYCLE, MANUAL)):
        expected = (current, wanted) in allowed
        assert lifecycle.allowed(current, wanted) is expected
        if expected:
            lifecycle.check(current, wanted)
            continue
        with pytest.raises(IllegalTransition) as caught:
            lifecycle.check(current, wanted)
        assert repr(str(current)) in caught.value.message
        assert repr(str(wanted)) in caught.value.message
        assert caught.value.status == 409


def test_manual_refusal_says_it_is_by_hand_and_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        MANUAL_LIFECYCLE.check(S.AVAILABLE, S.RESERVED)
    assert caught.value.message == (
        "A vehicle moved by hand cannot go from 'available' to 'reserved'; "
        "from 'available' it may go to: charging, maintenance, offline."
    )


def test_unknown_current_state_allows_nothing() -> None:
    assert not VEHICLE_LIFECYCLE.allowed("scrapped", S.AVAILABLE)
