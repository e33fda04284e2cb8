"""Latency cost of shadow mode: a trips read answered by the monolith with shadow mode on (the
read also sent to the trips service off the request path and compared) vs off, in one run.

Run with DATABASE_URL (a PostgreSQL server this can create two databases on) and
CELERY_BROKER_URL set, or inside the embedded environment:

    .venv/bin/python -m monolith.embedded -- .venv/bin/python -m bench.shadow_overhead

It starts the monolith and the trips service under gunicorn (one worker each) on databases of
their own, gives one rider 20 finished trips in the monolith and backfills them into the
service (so shadow reads compare equal, as they should before a cohort moves), and times
``GET /api/v1/trips/`` with the rider's token through the monolith, in blocks that alternate
shadow on and off (the first side alternating too, so drift hits both alike). Each switch goes
through ``manage.py cohort shadow`` and is waited for; after an "on" block the queued shadows are
let finish, so an "off" block never pays for them. It prints p50, p90 and p99 per side, the p50
ratio, and the monolith's own shadow counts (every "on" read queued and compared, none
dropped). Then, in this process, what the request itself pays for a shadowed read (its capture
and its place in the queue, the same answer's body, a runner whose job does nothing): the
difference between the two sides that is not the shadow's own work competing for the CPU.
Nothing here asserts on time.
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench.edge_proxy import PATH, _database, _manage, _serving, _timed
from monolith.platform.deployable_process import free_port, production_environment

SEED = """
import json
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token
from modules.trips.models import Trip
from monolith.platform.access import Role
rider = get_user_model().objects.create_user(username="bench-rider", password="pw")
rider.groups.add(Group.objects.get(name=Role.RIDER.value))
mover = get_user_model().objects.create_user(username="bench-mover", password="pw")
mover.groups.add(Group.objects.get(name=Role.MIGRATION_TEAM.value))
now = timezone.now()
for n in range(20):
    started = now - timedelta(days=n, minutes=30)
    Trip.objects.create(
        rider_id=rider.id, status="completed",
        origin_latitude=Decimal("52.521918"), origin_longitude=Decimal("13.413215"),
        destination_latitude=Decimal("52.516275"), destination_longitude=Decimal("13.377704"),
        requested_at=started, assigned_at=started, started_at=started,
        completed_at=started + timedelta(minutes=20), distance_km=Decimal("4.20"),
        duration_seconds=1200,
    )
print(json.dumps([str(rider.id), Token.objects.create(user=rider).key]))
"""
COUNTED = ("queued", "dropped", "skipped", "match", "mismatch", "error")


def _shadow_counts(port: int) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics", headers={"Host": "localhost"})
    text = connection.getresponse().read().decode()
    connection.close()
    found = dict.fromkeys(COUNTED, 0.0)
    for line in text.splitlines():
        if line.startswith("fleet_shadow_") and 'module="trips"' in line:
            for name in COUNTED:
                if f'="{name}"' in line:
                    found[name] += float(line.rsplit(" ", 1)[1])
    return found


def _shadow_set(env: dict[str, str], port: int, headers: dict[str, str], on: bool) -> None:
    """Switch shadow mode and wait until the monolith follows, then until it is idle."""
    state = "on" if on else "off"
    _manage(env, "cohort", "shadow", "trips", state, "--by", "bench-mover",
            "--reason", f"shadow overhead benchmark: {state}")  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        before = _shadow_counts(port)["queued"]
        _timed(port, headers, "monolith")
        if (_shadow_counts(port)["queued"] > before) == on:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the monolith did not turn shadow mode {state}")
    _settle(port)


def _settle(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = _shadow_counts(port)
        if counts["match"] + counts["mismatch"] + counts["error"] >= counts["queued"]:
            return
        time.sleep(0.02)
    raise SystemExit("shadow reads were still queued after 30 s")


def _answer(port: int, headers: dict[str, str]) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", PATH, headers={"Host": "localhost", **headers})
    body = connection.getresponse().read()
    connection.close()
    return body


def _request_path_us(body: bytes, reads: int) -> float:
    """Mean microseconds ``shadow_read_submit`` takes for a read answered with ``body``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from monolith.platform.edge import shadow

    request = RequestFactory().get(PATH, HTTP_AUTHORIZATION="Token bench")
    request.user = get_user_model()(pk=uuid.uuid4(), username="bench-rider")
    request.resolver_match = resolve(PATH)
    response = HttpResponse(body, content_type="application/json")
    # This process's runner, with a job that does nothing: only the request's share is timed.
    runner = shadow.ShadowRunner(workers=1, capacity=reads + 1, job=lambda read: None)
    shadow._runner, shadow._runner_pid = runner, os.getpid()
    started = time.perf_counter()
    for _ in range(reads):
        shadow.shadow_read_submit(request, response, "trips", "http://127.0.0.1:9")
    elapsed = time.perf_counter() - started
    runner.stop()
    return elapsed / reads * 1_000_000


def _cpu_seconds(port: int) -> float:
    """CPU time used so far by the gunicorn processes bound to ``port`` (Linux's /proc)."""
    bind = f"127.0.0.1:{port}".encode()
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and bind in (entry / "cmdline").read_bytes():
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            continue  # gone meanwhile
    return total / os.sysconf("SC_CLK_TCK")


def _quantiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[89], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8, help="blocks per side")
    parser.add_argument("--block", type=int, default=250, help="timed requests per block")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0,
        help="a client's think time between reads (0: each read right after the last answer)",
    )
    options = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith("postgres"):
        raise SystemExit(
            "Set DATABASE_URL to a PostgreSQL server (or run inside monolith.embedded)."
        )
    suffix = uuid.uuid4().hex[:8]
    monolith_port, trips_port = free_port(), free_port()
    common = {
        "FLEET_INTERNAL_TOKEN_SECRET": secrets.token_urlsafe(48),
        "COHORT_ROUTING_KEY_PREFIX": f"fleet-bench:shadow:{suffix}:",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }
    with ExitStack() as stack:
        trips_url = stack.enter_context(_database(server_url, f"bench_shadow_t_{suffix}"))
        monolith_env = production_environment(
            {
                **common,
                "DATABASE_URL": stack.enter_context(
                    _database(server_url, f"bench_shadow_m_{suffix}")
                ),
                "COHORT_ROUTED_MODULES": "trips",
                "FLEET_SERVICE_URL_TRIPS": f"http://127.0.0.1:{trips_port}",
                "GUNICORN_THREADS": "4",
            }
        )
        trips_env = production_environment(
            {
                **common,
                "DJANGO_SETTINGS_MODULE": "extracted.trips.settings",
                "DATABASE_URL": trips_url,
                **{
                    f"FLEET_MODULE_URL_{label.upper()}": f"http://127.0.0.1:{monolith_port}"
                    for label in ("users", "vehicles", "billing")
                },
            }
        )
        _manage(monolith_env, "migrate", "--no-input", "-v0")
        _manage(trips_env, "migrate", "--no-input", "-v0")
        _, rider_token = json.loads(_manage(monolith_env, "shell", "-c", SEED).splitlines()[-1])
        _manage(monolith_env, "strangler", "backfill", "trips", "--target-database-url", trips_url)
        stack.enter_context(_serving(monolith_env, "monolith.wsgi", monolith_port))
        stack.enter_context(_serving(trips_env, "extracted.trips.wsgi", trips_port))

        headers = {"Authorization": f"Token {rider_token}"}
        for _ in range(options.warmup):
            _timed(monolith_port, headers, "monolith")
        timings: dict[bool, list[float]] = {True: [], False: []}
        shadowed_before = _shadow_counts(monolith_port)
        shadowed = dict.fromkeys(COUNTED, 0.0)
        # CPU seconds per side: the monolith's, and the service's (which answers only shadows).
        cpu = {(on, port): 0.0 for on in (True, False) for port in (monolith_port, trips_port)}
        for block in range(options.blocks):
            for on in (True, False) if block % 2 == 0 else (False, True):
                _shadow_set(monolith_env, monolith_port, headers, on)
                before = _shadow_counts(monolith_port)
                cpu_before = {port: _cpu_seconds(port) for port in (monolith_port, trips_port)}
                for _ in range(options.block):
                    timings[on].append(_timed(monolith_port, headers, "monolith"))
                    time.sleep(options.pause_ms / 1000)
                _settle(monolith_port)
                for port, used in cpu_before.items():
                    cpu[on, port] += _cpu_seconds(port) - used
                if on:
                    after = _shadow_counts(monolith_port)
                    for name in COUNTED:
                        shadowed[name] += after[name] - before[name]
        total = {
            name: value - shadowed_before[name]
            for name, value in _shadow_counts(monolith_port).items()
        }
        body = _answer(monolith_port, headers)
    request_path_us = _request_path_us(body, 20_000)

    on_p50, on_p90, on_p99 = _quantiles(timings[True])
    off_p50, off_p90, off_p99 = _quantiles(timings[False])
    requests = options.blocks * options.block
    print(  # noqa: T201
        f"GET {PATH} (20 trips), {requests} requests per side in {options.blocks} blocks, "
        f"{options.pause_ms:g} ms between reads, one gunicorn worker each\n"
        f"  shadow off  p50 {off_p50:6.2f} ms  p90 {off_p90:6.2f} ms  p99 {off_p99:6.2f} ms\n"
        f"  shadow on   p50 {on_p50:6.2f} ms  p90 {on_p90:6.2f} ms  p99 {on_p99:6.2f} ms\n"
        f"  p50 ratio on/off: {on_p50 / off_p50:.3f}\n"
        f"  CPU per read: monolith {cpu[False, monolith_port] / requests * 1000:.2f} ms off, "
        f"{cpu[True, monolith_port] / requests * 1000:.2f} ms on; the service "
        f"{cpu[True, trips_port] / requests * 1000:.2f} ms per shadow\n"
        f"  during the on blocks: {shadowed['queued']:.0f} queued, "
        f"{shadowed['dropped']:.0f} dropped, {shadowed['match']:.0f} matched, "
        f"{shadowed['mismatch']:.0f} mismatched, {shadowed['error']:.0f} errors "
        f"(whole run, switches included: {total['queued']:.0f} queued)\n"
        f"  the request's own share of a shadowed read ({len(body):,}-byte answer): "
        f"{request_path_us:.1f} µs"
    )
    if shadowed["queued"] != requests or shadowed["match"] != requests:
        raise SystemExit("not every read of the on blocks was shadowed and matched")


if __name__ == "__main__":
    main()
