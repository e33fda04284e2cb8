"""The trip lifecycle table."""

import itertools

import pytest

from modules.trips.lifecycle import (
    TRIP_TRANSITIONS,
    trip_transition_allowed,
    trip_transition_check,
)
from modules.trips.models import TripStatus
from monolith.platform.errors import IllegalTransition

ALLOWED = {
    ("requested", "assigned"),
    ("requested", "cancelled"),
    ("assigned", "in_progress"),
    ("assigned", "cancelled"),
    ("in_progress", "completed"),
    ("in_progress", "interrupted"),
}


def test_table_covers_every_status() -> None:
    """Every status has an entry, so no state is forgotten."""
    assert set(TRIP_TRANSITIONS) == set(TripStatus.values)


@pytest.mark.parametrize(
    ("current", "wanted"), list(itertools.product(TripStatus.values, TripStatus.values))
)
def test_only_listed_transitions_are_allowed(current: str, wanted: str) -> None:
    expected = (current, wanted) in ALLOWED
    assert trip_transition_allowed(current=current, wanted=wanted) is expected
    if expected:
        trip_transition_check(current=current, wanted=wanted)
    else:
        with pytest.raises(IllegalTransition) as caught:
            trip_transition_check(current=current, wanted=wanted)
        assert current in caught.value.message
        assert wanted in caught.value.message


@pytest.mark.parametrize("final", ["completed", "cancelled"])
def test_completed_and_cancelled_are_final(final: str) -> None:
    assert TRIP_TRANSITIONS[final] == frozenset()


def test_illegal_transition_maps_to_409() -> None:
    with pytest.raises(IllegalTransition) as caught:
        trip_transition_check(current="completed", wanted="cancelled")
    assert caught.value.status == 409
    assert caught.value.message == "A trip that is completed cannot become cancelled."
