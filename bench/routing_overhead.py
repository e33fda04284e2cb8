"""Local-path cost of cohort routing: a request whose user is not in the cohort, routing on vs
routing code absent, in one run.

Run inside the embedded environment (or with DATABASE_URL/CELERY_BROKER_URL set; use a
database of its own, the run leaves a routing change in its audit):

    .venv/bin/python -m monolith.embedded -- .venv/bin/python -m bench.routing_overhead

It migrates and loads the demo data, then builds copies of the production WSGI handler in this
process, over the same database: one without the routing middleware ("absent"), one with it
and trips routed to a partial cohort (10% plus two named riders) that the measured rider is not
in ("on"), and a second one without routing ("control": its ratio to "absent" is the method's
own noise, and should be 1). It times ``GET /api/v1/trips/`` with the rider's token, one
request per handler in turn (the order rotated each turn) so load from other processes hits all
alike, and prints each one's p50 and p90, the CPU time this process spent per request, and the
p50 ratios. The on side's decisions are counted to prove it routed every request (one decision
each, "outside"). Nothing here asserts on time.
"""

import argparse
import io
import os
import secrets
import statistics
import subprocess
import sys
import time
from typing import Any

from monolith.platform.deployable_process import ROOT, production_environment

MIDDLEWARE = "monolith.cohorts.middleware.CohortRoutingMiddleware"
PATH = "/api/v1/trips/"


def _prepare() -> None:
    # Production settings ask for the deployables' shared secret once it exists.
    os.environ.setdefault("FLEET_INTERNAL_TOKEN_SECRET", secrets.token_urlsafe(48))
    env = production_environment({"LOG_LEVEL": "WARNING"})
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "fleet_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def partial_cohort_rider(bench: str) -> Any:
    """Migrate and load the demo data, start Django on the production settings with trips
    routed, route a partial cohort of trips (10 % and two named riders) and return a rider
    the cohort leaves on the monolith: the request or call a benchmark measures."""
    _prepare()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="monolith.settings.production",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(64),
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        COHORT_ROUTED_MODULES="trips",
    )
    import django

    django.setup()
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from monolith.cohorts.routing import route_for_account
    from monolith.cohorts.rules import Side
    from monolith.cohorts.services import CohortChange, cohort_change

    users = get_user_model()
    riders = list(users.objects.filter(username__startswith="rider").order_by("username"))
    cohort_change(
        module="trips",
        change=CohortChange(
            everyone=None,
            percent=Decimal(10),
            usernames=frozenset(rider.username for rider in riders[:2]),
        ),
        by=users.objects.get(username="migration"),
        reason=f"{bench}: a partial cohort to measure against",
    )
    return next(r for r in riders[2:] if route_for_account("trips", r.pk).side is Side.MONOLITH)


def _environ(token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_ACCEPT": "application/json",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _timed(handler: Any, token: str, cpu: list[float] | None = None) -> float:
    statuses: list[str] = []
    started, started_cpu = time.perf_counter(), time.process_time()
    response = handler(_environ(token), lambda status, headers: statuses.append(status))
    b"".join(response)
    response.close()
    elapsed = (time.perf_counter() - started) * 1000
    if cpu is not None:
        cpu.append((time.process_time() - started_cpu) * 1000)
    if not statuses[0].startswith("200"):
        raise SystemExit(f"{PATH} answered {statuses[0]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per side")
    parser.add_argument("--block", type=int, default=1, help="requests per side per turn")
    parser.add_argument("--warmup", type=int, default=200, help="per side")
    args = parser.parse_args()

    rider = partial_cohort_rider("bench.routing_overhead")
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings
    from prometheus_client import REGISTRY
    from rest_framework.authtoken.models import Token

    token = Token.objects.get_or_create(user=rider)[0].key

    # "control" is a second handler without routing: its ratio to "absent" is the noise of
    # the method on this machine, the floor under which the "on" ratio means nothing.
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != MIDDLEWARE]):
        handlers = {"absent": WSGIHandler(), "control": WSGIHandler()}
    handlers["on"] = WSGIHandler()

    labels = {"module": "trips", "side": "monolith", "reason": "outside"}
    decided_before = REGISTRY.get_sample_value("fleet_routing_decisions_total", labels) or 0.0
    for handler in handlers.values():
        for _ in range(args.warmup):
            _timed(handler, token)
    timings: dict[str, list[float]] = {name: [] for name in handlers}
    cpu: dict[str, list[float]] = {name: [] for name in handlers}
    names = list(handlers)
    turn = 0
    while len(timings["on"]) < args.requests:
        # Each turn rotates who goes first, so no side always follows the same one.
        order = names[turn % 3 :] + names[: turn % 3]
        for name in order:
            timings[name].extend(
                _timed(handlers[name], token, cpu[name]) for _ in range(args.block)
            )
        turn += 1
    decided = REGISTRY.get_sample_value("fleet_routing_decisions_total", labels) or 0.0
    expected = args.warmup + len(timings["on"])
    if decided - decided_before != expected:
        raise SystemExit(f"routing decided {decided - decided_before} times, not {expected}")

    p50 = {name: statistics.median(values) for name, values in timings.items()}
    p90 = {name: statistics.quantiles(values, n=10)[8] for name, values in timings.items()}
    for name in handlers:
        print(  # noqa: T201
            f"routing {name:>6}: {len(timings[name])} requests, "
            f"p50 {p50[name]:.3f} ms, p90 {p90[name]:.3f} ms, "
            f"CPU {statistics.mean(cpu[name]):.3f} ms per request"
        )
    print(  # noqa: T201
        f"p50 ratio on/absent: {p50['on'] / p50['absent']:.3f} "
        f"(control/absent: {p50['control'] / p50['absent']:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
