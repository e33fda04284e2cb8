"""Requests per module and side: Prometheus metrics, and a rolling window the status reads.

A request pays for one Prometheus update (the latency histogram per module and side, whose
``_count`` is the requests; 5xx answers also count an error), plus one for the routing decision
of a routed module. Every ``COHORT_TRAFFIC_FLUSH_SECONDS`` the process reads its own histogram
and error counts, and adds what grew since its last flush to Redis in one round trip, into one
hash per module, side and minute. ``cohort status`` sums the last
``COHORT_TRAFFIC_WINDOW_MINUTES`` of every process: the traffic split, the error rate and the
p95 latency per side, the p95 interpolated within its bucket as ``histogram_quantile`` does.
The edge proxy records what it forwards with ``traffic_record(module, Side.SERVICE, ...)``.
"""

import atexit
import itertools
import logging
import threading
import time
from dataclasses import dataclass
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


_flush_lock = threading.Lock()
_flushed_at = time.monotonic()
# What the window already holds of this process's counts: per (module, side), the requests in
# each latency bucket (the last one: slower than every bound) and then the errors.
_shipped: dict[tuple[str, str], list[int]] = {}


def traffic_record(module: str, side: Side, status: int, seconds: float) -> None:
    """Count one answered request; the shared window gets it at the next flush."""
    _child(SERVED_LATENCY, module, side.value).observe(seconds)
    if status >= 500:
        _child(SERVED_ERRORS, module, side.value).inc()
    if time.monotonic() - _flushed_at >= routing_config().traffic_flush_seconds:
        traffic_flush()


def _counts_now() -> dict[tuple[str, str], list[int]]:
    """This process's counts so far, per (module, side): requests per bucket, then errors."""
    counts: dict[tuple[str, str], list[int]] = {}
    bounds = len(LATENCY_BOUNDS_MS) + 1

    def row(labels: dict[str, str]) -> list[int]:
        return counts.setdefault((labels["module"], labels["side"]), [0] * (bounds + 1))

    for family in SERVED_LATENCY.collect():
        cumulative: dict[tuple[str, str], list[int]] = {}
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = (sample.labels["module"], sample.labels["side"])
                cumulative.setdefault(key, []).append(int(sample.value))
        for (module, side), values in cumulative.items():
            # Samples come in bound order, +Inf last; each bucket holds what the previous lacks.
            per_bucket = [values[0]] + [b - a for a, b in itertools.pairwise(values)]
            row({"module": module, "side": side})[:bounds] = per_bucket
    for family in SERVED_ERRORS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                row(sample.labels)[bounds] = int(sample.value)
    return counts


def _minute_key(module: str, side: str, minute: int) -> str:
    return routing_key(f"traffic:{module}:{side}:{minute}")


def traffic_flush() -> None:
    """Add what this process counted since its last flush to the shared window."""
    global _flushed_at
    with _flush_lock:
        _flushed_at = time.monotonic()
        now = _counts_now()
        grown = {
            key: [
                count - seen
                for count, seen in zip(counts, _shipped.get(key, [0] * len(counts)), strict=True)
            ]
            for key, counts in now.items()
        }
        _shipped.update(now)
    grown = {key: deltas for key, deltas in grown.items() if any(deltas)}
    client = routing_redis()
    if not grown or client is None:
        return
    minute = int(time.time() // 60)
    pipeline = client.pipeline(transaction=False)
    for (module, side), deltas in grown.items():
        key = _minute_key(module, side, minute)
        *buckets, errors = deltas
        pipeline.hincrby(key, "requests", sum(buckets))
        if errors:
            pipeline.hincrby(key, "errors", errors)
        for index, count in enumerate(buckets):
            if count:
                pipeline.hincrby(key, f"b{index}", count)
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


def traffic_window(module: str) -> dict[Side, SideTraffic] | None:
    """Each side's traffic for ``module`` over the last minutes; None without a shared Redis."""
    client = routing_redis()
    if client is None:
        return None
    now_minute = int(time.time() // 60)
    minutes = range(now_minute - settings.COHORT_TRAFFIC_WINDOW_MINUTES + 1, now_minute + 1)
    pipeline = client.pipeline(transaction=False)
    for side in Side:
        for minute in minutes:
            pipeline.hgetall(_minute_key(module, side.value, minute))
    try:
        hashes = pipeline.execute()
    except redis.RedisError as error:
        routing_redis_failed(error, "reading traffic")
        return None
    window: dict[Side, SideTraffic] = {}
    for index, side in enumerate(Side):
        requests = errors = 0
        buckets = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        for counts in hashes[index * len(minutes) : (index + 1) * len(minutes)]:
            for name, value in counts.items():
                name = name.decode()
                if name == "requests":
                    requests += int(value)
                elif name == "errors":
                    errors += int(value)
                else:
                    buckets[int(name[1:])] += int(value)
        window[side] = SideTraffic(requests, errors, latency_quantile(buckets, 0.95))
    return window
