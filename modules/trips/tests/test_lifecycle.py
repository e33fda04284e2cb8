"""The trip lifecycle table."""

import itertools

import pytest

from modules.trips.lifecycle import TRIP_LIFECYCLE
from modules.trips.models import TripStatus
from monolith.platform.errors import IllegalTransition

ALLOWED = {
    ("requested", "assigned"),
    ("requested", "cancelled"),
    ("assigned", "in_progress"),
    ("assigned", "cancelled"),
    ("assigned", "interrupted"),
    ("in_progress", "completed"),
    ("in_progress", "interrupted"),
}


def test_table_covers_every_status() -> None:
    """Every status has an entry, so no state is forgotten."""
    assert set(TRIP_LIFECYCLE.transitions) == set(TripStatus.values)


@pytest.mark.parametrize(
    ("current", "wanted"), list(itertools.product(TripStatus.values, TripStatus.values))
)
def test_only_listed_transitions_are_allowed(current: str, wanted: str) -> None:
    expected = (current, wanted) in ALLOWED
    assert TRIP_LIFECYCLE.allowed(current, wanted) is expected
    if expected:
        TRIP_LIFECYCLE.check(current, wanted)
    else:
        with pytest.raises(IllegalTransition) as caught:
            TRIP_LIFECYCLE.check(current, wanted)
        assert f"from '{current}' to '{wanted}'" in caught.value.message


@pytest.mark.parametrize("final", ["completed", "cancelled", "interrupted"])
def test_completed_cancelled_and_interrupted_are_final(final: str) -> None:
    assert TRIP_LIFECYCLE.next_states(final) == frozenset()


def test_illegal_transition_maps_to_409() -> None:
    with pytest.raises(IllegalTransition) as caught:
        TRIP_LIFECYCLE.check("completed", "cancelled")
    assert caught.value.status == 409
    assert caught.value.message == (
        "A trip cannot go from 'completed' to 'cancelled'; "
        "from 'completed' it may go to: nothing (it is final)."
    )
