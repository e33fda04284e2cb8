"""Cost of routing per call: another module's call to ``trips.api`` with the routing wrapper, for
a rider outside trips' cohort (so it runs here), against the same function unwrapped.

Run with a database of its own (the run leaves a routing change in its audit):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<name>_bench \
      CELERY_BROKER_URL=redis://127.0.0.1:6379/<n> .venv/bin/python -m bench.routed_api_call

It migrates and loads the demo data (as ``bench.routing_overhead`` does), routes trips to a
partial cohort (10% plus two named riders) that the measured rider is not in, and wraps two
``trips.api`` functions as the monolith does when trips has a service URL (the URL is never
called: the rider stays here). Variants, timed in batches taken in turn (the order rotated)
so load from other processes hits all alike:

- ``absent``: the function itself, and ``control``, the same again (its ratio to ``absent`` is
  the method's own noise on this machine, the floor under which the other ratios mean nothing);
- ``request``: wrapped, inside a request whose decision for trips is taken (one context
  variable read, a dictionary look-up, one Prometheus update for the monolith side);
- ``acting``: wrapped, outside a request, deciding for the account the code acts for
  (``acting_as``: the process's snapshot and the rider's remembered bucket).

Functions: ``booking_credit_reference`` (no query: the wrapper's cost against almost nothing;
``--calls`` calls per batch, ``--batches`` batches) and ``trip_list_for_rider`` (one query: the
cost against a typical api call; one call per batch, ``--query-batches`` of them, since the
database's answer time drifts more than the wrapper costs). Prints the median time per call of
each, the ratios to ``absent``, and checks that every wrapped call was counted on the monolith
side and none went to the service. Nothing here asserts on time.
"""

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.routing_overhead import partial_cohort_rider


def _per_call_ns(call: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        call()
    return (time.perf_counter_ns() - started) / calls


def _variants(
    function: Callable[..., Any],
    routed: Callable[..., Any],
    kwargs: dict[str, Any],
    calls: int,
    request: Any,
    account_id: Any,
) -> dict[str, Callable[[], float]]:
    """Each variant's batch: ``calls`` calls, timed; the time per call in nanoseconds."""
    from monolith.cohorts.routing import request_routing_begin, request_routing_end
    from monolith.platform.interservice.acting import acting_as

    def absent() -> float:
        return _per_call_ns(lambda: function(**kwargs), calls)

    def in_request() -> float:
        token = request_routing_begin(request)
        try:
            return _per_call_ns(lambda: routed(**kwargs), calls)
        finally:
            request_routing_end(token)

    def acting() -> float:
        with acting_as(account_id):
            return _per_call_ns(lambda: routed(**kwargs), calls)

    return {"absent": absent, "control": absent, "request": in_request, "acting": acting}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=31, help="per variant, no query")
    parser.add_argument("--calls", type=int, default=20000, help="per batch, no query")
    parser.add_argument("--query-batches", type=int, default=3000, help="per variant, one query")
    args = parser.parse_args()

    rider = partial_cohort_rider("bench.routed_api_call")
    from django.http import HttpRequest
    from prometheus_client import REGISTRY

    from modules.trips import api as trips_api
    from monolith.platform.interservice.routed import routed_stub

    request = HttpRequest()
    request.user = rider
    trip_id, other_rider = uuid.uuid4(), uuid.uuid4()

    calls: dict[str, tuple[Callable[..., Any], dict[str, Any], int, int]] = {
        "booking_credit_reference": (
            trips_api.booking_credit_reference,
            {"trip_id": trip_id},
            args.calls,
            args.batches,
        ),
        "trip_list_for_rider": (
            trips_api.trip_list_for_rider,
            {"rider_id": other_rider},
            1,
            args.query_batches,
        ),
    }

    def counted(name: str) -> float:
        labels = {"module": "trips", "side": name}
        return REGISTRY.get_sample_value("fleet_routed_request_duration_seconds_count", labels) or 0

    wrapped_calls = 0
    before = counted("monolith"), counted("service")
    for name, (function, kwargs, per_batch, batches) in calls.items():
        routed = routed_stub("trips", name, function, base_url="http://127.0.0.1:9")

        variants = _variants(function, routed, kwargs, per_batch, request, rider.pk)
        for measure in variants.values():  # warm-up
            measure()
        timings: dict[str, list[float]] = {variant: [] for variant in variants}
        names = list(variants)
        for batch in range(batches):
            for variant in names[batch % 4 :] + names[: batch % 4]:
                timings[variant].append(variants[variant]())
        wrapped_calls += 2 * per_batch * (batches + 1)
        median = {variant: statistics.median(values) for variant, values in timings.items()}
        print(  # noqa: T201
            f"{name}: absent {median['absent']:,.0f} ns per call; "
            + ", ".join(
                f"{variant} {median[variant]:,.0f} ns ({median[variant] / median['absent']:.3f}x, "
                f"{median[variant] - median['absent']:+,.0f} ns)"
                for variant in ("control", "request", "acting")
            )
        )
    monolith, service = counted("monolith") - before[0], counted("service") - before[1]
    if (monolith, service) != (wrapped_calls, 0):
        raise SystemExit(f"counted {monolith} here and {service} on the service: not all here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
