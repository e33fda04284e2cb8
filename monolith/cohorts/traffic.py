"""Requests per module and side, and shadow comparisons per module: Prometheus metrics, and a
rolling window the status reads.

A request pays for one Prometheus update (the latency histogram per module and side, whose
``_count`` is the requests; 5xx answers also count an error), plus one for the routing decision
of a routed module. Every ``COHORT_TRAFFIC_FLUSH_SECONDS`` the process reads its own histogram
and counters, and adds what grew since its last flush to Redis in one round trip, into one
hash per module, side and minute (and one per module and minute for shadow mode's counts).
``cohort status`` sums the last ``COHORT_TRAFFIC_WINDOW_MINUTES`` of every process: the traffic
split, the error rate and the p95 latency per side, the p95 interpolated within its bucket as
``histogram_quantile`` does, and the shadow mismatch rate. The edge proxy records what it
forwards with ``traffic_record(module, Side.SERVICE, ...)``; shadow mode counts with
``shadow_count``.
"""

import atexit
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
from django.conf import settings
from prometheus_client import Counter, Histogram

from monolith.cohorts.config import routing_config
from monolith.cohorts.propagation import routing_key, routing_redis, routing_redis_failed
from monolith.cohorts.rules import Side

log = logging.getLogger("fleet.cohorts")

# Upper bounds in milliseconds; one more bucket holds everything slower.
LATENCY_BOUNDS_MS = (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000,
                     1500, 2500, 5000, 10000)  # fmt: skip
# A minute's hash outlives the window a little, then Redis forgets it.
KEY_TTL_SECONDS = 3600

DECISIONS = Counter(
    "fleet_routing_decisions_total",
    "Routing decisions taken, one per request to a routed module, by module, side and reason.",
    ["module", "side", "reason"],
)
SERVED_LATENCY = Histogram(
    "fleet_routed_request_duration_seconds",
    "Time to answer a request to a module's API, by module and the side that served it.",
    ["module", "side"],
    buckets=tuple(bound / 1000 for bound in LATENCY_BOUNDS_MS),
)
SERVED_ERRORS = Counter(
    "fleet_routed_request_errors_total",
    "Requests to a module's API answered with a server error (5xx), by module and side.",
    ["module", "side"],
)
SHADOW_READS = Counter(
    "fleet_shadow_reads_total",
    "Reads served by the monolith in shadow mode, by module and what became of their shadow: "
    "queued (to be sent to the service), dropped (the queue was full), skipped (an answer too "
    "large to compare).",
    ["module", "fate"],
)
SHADOW_COMPARISONS = Counter(
    "fleet_shadow_comparisons_total",
    "Shadow reads answered by the service and compared with the monolith's answer, by module "
    "and outcome: match, mismatch, error (the service did not answer; nothing compared).",
    ["module", "outcome"],
)


class ShadowFate(StrEnum):
    """What became of a read's shadow on the request path."""

    QUEUED = "queued"
    DROPPED = "dropped"
    SKIPPED = "skipped"


class ShadowOutcome(StrEnum):
    """What the comparison of a queued shadow read found."""

    MATCH = "match"
    MISMATCH = "mismatch"
    ERROR = "error"


# Each label set's child, looked up once: ``labels()`` costs more than the count itself.
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def decision_count(module: str, side: Side, reason: str) -> None:
    """Count one routing decision taken for a request."""
    _child(DECISIONS, module, side.value, reason).inc()


def shadow_count(module: str, what: ShadowFate | ShadowOutcome) -> None:
    """Count one shadow read's fate or outcome (no flush: the request's own record flushes,
    and the shadow runner calls ``traffic_flush_if_due`` after each comparison)."""
    if isinstance(what, ShadowFate):
        _child(SHADOW_READS, module, what.value).inc()
    else:
        _child(SHADOW_COMPARISONS, module, what.value).inc()


_flush_lock = threading.Lock()
_flushed_at = time.monotonic()
# What the window already holds of this process's counts: per hash (its key without the
# minute), the count of each field.
_shipped: dict[str, dict[str, int]] = {}


def traffic_record(module: str, side: Side, status: int, seconds: float) -> None:
    """Count one answered request; the shared window gets it at the next flush."""
    _child(SERVED_LATENCY, module, side.value).observe(seconds)
    if status >= 500:
        _child(SERVED_ERRORS, module, side.value).inc()
    traffic_flush_if_due()


def traffic_flush_if_due() -> None:
    if time.monotonic() - _flushed_at >= routing_config().traffic_flush_seconds:
        traffic_flush()


def _traffic_hash(module: str, side: str) -> str:
    return f"traffic:{module}:{side}"


def _shadow_hash(module: str) -> str:
    return f"shadow:{module}"


def _counts_now() -> dict[str, dict[str, int]]:
    """This process's counts so far, per hash: for a module and side, ``requests``,
    ``errors`` and the requests in each latency bucket (``b<index>``, the last one slower than
    every bound); for a module's shadow mode, the count of each fate and outcome."""
    counts: dict[str, dict[str, int]] = {}
    for family in SERVED_LATENCY.collect():
        cumulative: dict[str, list[int]] = {}
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = _traffic_hash(sample.labels["module"], sample.labels["side"])
                cumulative.setdefault(key, []).append(int(sample.value))
        for key, values in cumulative.items():
            # Samples come in bound order, +Inf last; each bucket holds what the previous lacks.
            per_bucket = [values[0]] + [b - a for a, b in itertools.pairwise(values)]
            fields = counts.setdefault(key, {})
            fields["requests"] = values[-1]
            fields.update((f"b{index}", count) for index, count in enumerate(per_bucket))
    for metric, field in (
        (SERVED_ERRORS, None),
        (SHADOW_READS, "fate"),
        (SHADOW_COMPARISONS, "outcome"),
    ):
        for family in metric.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = sample.labels
                if field is None:
                    key, name = _traffic_hash(labels["module"], labels["side"]), "errors"
                else:
                    key, name = _shadow_hash(labels["module"]), labels[field]
                counts.setdefault(key, {})[name] = int(sample.value)
    return counts


def _minute_key(name: str, minute: int) -> str:
    return routing_key(f"{name}:{minute}")


def traffic_flush() -> None:
    """Add what this process counted since its last flush to the shared window."""
    global _flushed_at
    with _flush_lock:
        _flushed_at = time.monotonic()
        now = _counts_now()
        grown: dict[str, dict[str, int]] = {}
        for key, fields in now.items():
            seen = _shipped.get(key, {})
            deltas = {name: count - seen.get(name, 0) for name, count in fields.items()}
            if any(deltas.values()):
                grown[key] = deltas
        _shipped.update(now)
    client = routing_redis()
    if not grown or client is None:
        return
    minute = int(time.time() // 60)
    pipeline = client.pipeline(transaction=False)
    for name, deltas in grown.items():
        key = _minute_key(name, minute)
        for field, count in deltas.items():
            if count:
                pipeline.hincrby(key, field, count)
        pipeline.expire(key, KEY_TTL_SECONDS)
    try:
        pipeline.execute()
    except redis.RedisError as error:
        routing_redis_failed(error, "counting traffic")


atexit.register(traffic_flush)


@dataclass(frozen=True)
class SideTraffic:
    """One side's requests over the window."""

    requests: int
    errors: int
    p95_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def latency_quantile(buckets: list[int], quantile: float) -> float | None:
    """The latency below which ``quantile`` of the requests fall, interpolated in its bucket."""
    total = sum(buckets)
    if not total:
        return None
    wanted = quantile * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= wanted:
            lower = LATENCY_BOUNDS_MS[index - 1] if index else 0.0
            if index == len(LATENCY_BOUNDS_MS):
                return float(lower)  # slower than the last bound: say the bound
            upper = LATENCY_BOUNDS_MS[index]
            return lower + (upper - lower) * (wanted - seen) / count
        seen += count
    return None


def _window(names: list[str]) -> list[dict[str, int]] | None:
    """Each named hash summed over the last minutes; None without a shared Redis."""
    client = routing_redis()
    if client is None:
        return None
    now_minute = int(time.time() // 60)
    minutes = range(now_minute - settings.COHORT_TRAFFIC_WINDOW_MINUTES + 1, now_minute + 1)
    pipeline = client.pipeline(transaction=False)
    for name in names:
        for minute in minutes:
            pipeline.hgetall(_minute_key(name, minute))
    try:
        hashes = pipeline.execute()
    except redis.RedisError as error:
        routing_redis_failed(error, "reading traffic")
        return None
    sums: list[dict[str, int]] = []
    for index in range(len(names)):
        summed: dict[str, int] = {}
        for counts in hashes[index * len(minutes) : (index + 1) * len(minutes)]:
            for field, value in counts.items():
                field = field.decode()
                summed[field] = summed.get(field, 0) + int(value)
        sums.append(summed)
    return sums


def traffic_window(module: str) -> dict[Side, SideTraffic] | None:
    """Each side's traffic for ``module`` over the last minutes; None without a shared Redis."""
    sums = _window([_traffic_hash(module, side.value) for side in Side])
    if sums is None:
        return None
    window: dict[Side, SideTraffic] = {}
    for side, counts in zip(Side, sums, strict=True):
        buckets = [counts.get(f"b{index}", 0) for index in range(len(LATENCY_BOUNDS_MS) + 1)]
        window[side] = SideTraffic(
            counts.get("requests", 0), counts.get("errors", 0), latency_quantile(buckets, 0.95)
        )
    return window


@dataclass(frozen=True)
class ShadowCounts:
    """A module's shadow reads over the window: what became of them, and what was compared."""

    queued: int = 0
    dropped: int = 0
    skipped: int = 0
    matched: int = 0
    mismatched: int = 0
    errors: int = 0

    @property
    def compared(self) -> int:
        return self.matched + self.mismatched

    @property
    def mismatch_rate(self) -> float | None:
        """Mismatches among the reads both sides answered; None when none were compared."""
        return self.mismatched / self.compared if self.compared else None


def shadow_window(module: str) -> ShadowCounts | None:
    """``module``'s shadow counts over the last minutes; None without a shared Redis."""
    sums = _window([_shadow_hash(module)])
    if sums is None:
        return None
    (counts,) = sums
    return ShadowCounts(
        queued=counts.get(ShadowFate.QUEUED, 0),
        dropped=counts.get(ShadowFate.DROPPED, 0),
        skipped=counts.get(ShadowFate.SKIPPED, 0),
        matched=counts.get(ShadowOutcome.MATCH, 0),
        mismatched=counts.get(ShadowOutcome.MISMATCH, 0),
        errors=counts.get(ShadowOutcome.ERROR, 0),
    )
