"""A circuit breaker per base URL: stop calling a deployable that keeps failing.

Closed: calls go through; ``failures`` failures in a row open it. Open: calls fail at once
(``CircuitOpen`` with the seconds left) until ``reset_seconds`` have passed. Half-open: one
trial call goes through (the others still fail at once); its success closes the breaker, its
failure opens it again for another ``reset_seconds``. Per process: each gunicorn worker
learns on its own, at the cost of ``failures`` calls.
"""

import math
import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the circuit is open for another {retry_after} s")
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failed_in_a_row = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._half_open_if_due()
            return self._state

    def _half_open_if_due(self) -> None:
        if self._state == BreakerState.OPEN and self._remaining() <= 0:
            self._state = BreakerState.HALF_OPEN
            self._trial_in_flight = False

    def _remaining(self) -> float:
        return self._opened_at + self.reset_seconds - self._clock()

    def retry_after(self) -> int:
        """Seconds a caller should wait: what is left of the open period, else a full one."""
        with self._lock:
            remaining = self._remaining() if self._state == BreakerState.OPEN else 0
        return max(1, math.ceil(remaining if remaining > 0 else self.reset_seconds))

    def before_call(self) -> None:
        """Let the call through, or raise ``CircuitOpen``."""
        with self._lock:
            self._half_open_if_due()
            if self._state == BreakerState.CLOSED:
                return
            if self._state == BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            remaining = self._remaining() if self._state == BreakerState.OPEN else 0
            raise CircuitOpen(max(1, math.ceil(remaining if remaining > 0 else 1)))

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failed_in_a_row = 0
            self._trial_in_flight = False

    def record_failure(self) -> bool:
        """Count a failure; True when it opened the breaker."""
        with self._lock:
            self._failed_in_a_row += 1
            self._trial_in_flight = False
            if self._state == BreakerState.HALF_OPEN or (
                self._state == BreakerState.CLOSED and self._failed_in_a_row >= self.failures
            ):
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                return True
            return False
