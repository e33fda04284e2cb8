"""The circuit breaker: closed, open after N failures in a row, half-open after T seconds."""

import pytest

from monolith.platform.interservice.breaker import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failures=3, reset_seconds=10, clock=clock)


def test_failures_in_a_row_open_it_and_a_success_between_resets_the_count(
    breaker: CircuitBreaker,
) -> None:
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED
    breaker.before_call()

    assert breaker.record_failure() is True

    assert breaker.state == BreakerState.OPEN


def test_open_fails_fast_with_the_seconds_left(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += 2.5

    with pytest.raises(CircuitOpen) as open_circuit:
        breaker.before_call()

    assert open_circuit.value.retry_after == 8
    assert breaker.retry_after() == 8


def test_half_open_lets_one_trial_through_and_its_success_closes(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10

    assert breaker.state == BreakerState.HALF_OPEN
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # anyone else while the trial runs
    breaker.record_success()

    assert breaker.state == BreakerState.CLOSED
    breaker.before_call()


def test_a_failed_trial_opens_it_for_another_period(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += 11
    breaker.before_call()

    assert breaker.record_failure() is True

    assert breaker.state == BreakerState.OPEN
    clock.now += 9.5
    with pytest.raises(CircuitOpen) as open_circuit:
        breaker.before_call()
    assert open_circuit.value.retry_after == 1
    clock.now += 0.5
    breaker.before_call()
