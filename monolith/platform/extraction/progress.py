"""A progress bar for a long copy: rows done of the total, rows per second, time left.

Drawn on one line of a terminal (carriage returns, redrawn at most ten times a second); silent
when the stream is not a terminal, so logs and pipes get only the summary lines.
"""

import time
from typing import TextIO

REDRAW_SECONDS = 0.1
BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class RowProgress:
    """One table's copy, drawn as ``trips_trip [#####.....] 1,500/3,000 12,345 rows/s ETA``."""

    def __init__(self, stream: TextIO | None, name: str, *, total: int, done: int = 0) -> None:
        self.stream = stream
        self.name = name
        self.total = total
        # Rows copied by an earlier, interrupted run do not count towards the rate.
        self.start_done = done
        self.done = done
        self.started = time.monotonic()
        self.drawn = 0.0

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.drawn >= REDRAW_SECONDS:
            self.drawn = now
            self._draw(now)

    def finish(self) -> None:
        if self.stream is not None:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        if self.stream is None:
            return
        # The source may grow while it is copied: the bar never runs past full.
        total = max(self.total, self.done, 1)
        filled = BAR_WIDTH * self.done // total
        elapsed = max(now - self.started, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = _duration((total - self.done) / rate) if rate > 0 else "?"
        self.stream.write(
            f"\r  {self.name} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{self.done:,}/{self.total:,} rows {rate:,.0f} rows/s ETA {left}\x1b[K"
        )
        self.stream.flush()
