"""Proxy cost of the edge: a trips read through the monolith's edge minus the same read sent
straight to the trips service, on loopback, in one run.

Run with DATABASE_URL (a PostgreSQL server this can create two databases on) and
CELERY_BROKER_URL set, or inside the embedded environment:

    .venv/bin/python -m monolith.embedded -- .venv/bin/python -m bench.edge_proxy

It starts the monolith and the trips service under gunicorn (one worker each; the monolith
with threads, as a forwarded booking calls back into it) on databases of their own, routes
trips to the service for everyone, and times ``GET /api/v1/trips/`` for one rider: through the
monolith with the rider's DRF token ("edge": authentication, the routing decision, a signed
token, the forward over a pooled connection) and straight to the service with the internal
token the edge would send ("direct"), one of each in turn. It prints p50 and p99 of both and
their difference; then, for scale, the monolith answering the same request itself (routing
back to nobody), and the edge's own forwarding time (its histogram's mean). Nothing here
asserts on time.
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import psycopg

from monolith.platform.deployable_process import (
    ROOT,
    free_port,
    gunicorn_command,
    production_environment,
    wait_healthy,
)

PATH = "/api/v1/trips/"
SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from monolith.platform.access import Role
rider = get_user_model().objects.create_user(username="bench-rider", password="pw")
rider.groups.add(Group.objects.get(name=Role.RIDER.value))
mover = get_user_model().objects.create_user(username="bench-mover", password="pw")
mover.groups.add(Group.objects.get(name=Role.MIGRATION_TEAM.value))
print(json.dumps([str(rider.id), Token.objects.create(user=rider).key]))
"""


@contextmanager
def _database(server_url: str, name: str) -> Iterator[str]:
    parts = urlsplit(server_url)
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    return done.stdout.strip()


@contextmanager
def _serving(env: dict[str, str], wsgi: str, port: int) -> Iterator[None]:
    server = subprocess.Popen(
        gunicorn_command(bind=f"127.0.0.1:{port}", wsgi=wsgi),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port, server=server)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def _timed(port: int, headers: dict[str, str], served_by: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.perf_counter()
    connection.request("GET", PATH, headers={"Host": "localhost", **headers})
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    if response.status != 200 or response.getheader("X-Served-By") != served_by:
        raise SystemExit(
            f"{PATH} answered {response.status} from {response.getheader('X-Served-By')}"
        )
    return elapsed


def _forward_mean_ms(port: int) -> float:
    """The edge's own mean time from forwarding to the service's answer (its histogram)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics", headers={"Host": "localhost"})
    text = connection.getresponse().read().decode()
    connection.close()
    values = {}
    for line in text.splitlines():
        if line.startswith("fleet_edge_proxy_duration_seconds_") and 'module="trips"' in line:
            values[line.split("{", 1)[0].rsplit("_", 1)[1]] = float(line.rsplit(" ", 1)[1])
    return values["sum"] / values["count"] * 1000


def _quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per side")
    parser.add_argument("--warmup", type=int, default=100)
    options = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith("postgres"):
        raise SystemExit(
            "Set DATABASE_URL to a PostgreSQL server (or run inside monolith.embedded)."
        )
    secret = secrets.token_urlsafe(48)
    suffix = uuid.uuid4().hex[:8]
    monolith_port, trips_port = free_port(), free_port()
    common = {
        "FLEET_INTERNAL_TOKEN_SECRET": secret,
        "COHORT_ROUTING_KEY_PREFIX": f"fleet-bench:edge:{suffix}:",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }
    with ExitStack() as stack:
        monolith_env = production_environment(
            {
                **common,
                "DATABASE_URL": stack.enter_context(
                    _database(server_url, f"bench_edge_m_{suffix}")
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
                "DATABASE_URL": stack.enter_context(
                    _database(server_url, f"bench_edge_t_{suffix}")
                ),
                **{
                    f"FLEET_MODULE_URL_{label.upper()}": f"http://127.0.0.1:{monolith_port}"
                    for label in ("users", "vehicles", "billing")
                },
            }
        )
        _manage(monolith_env, "migrate", "--no-input", "-v0")
        _manage(trips_env, "migrate", "--no-input", "-v0")
        rider_id, rider_token = json.loads(
            _manage(monolith_env, "shell", "-c", SEED).splitlines()[-1]
        )
        _manage(monolith_env, "cohort", "route", "trips", "--everyone", "--by", "bench-mover",
                "--reason", "edge proxy benchmark")  # fmt: skip
        stack.enter_context(_serving(monolith_env, "monolith.wsgi", monolith_port))
        stack.enter_context(_serving(trips_env, "extracted.trips.wsgi", trips_port))

        os.environ["FLEET_INTERNAL_TOKEN_SECRET"] = secret
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
        import django

        django.setup()
        from monolith.platform.interservice.tokens import internal_token_issue

        def direct_headers() -> dict[str, str]:
            token = internal_token_issue(
                audience="trips",
                account_id=uuid.UUID(rider_id),
                roles=["rider"],
                secret=secret.encode(),
            )
            return {"X-Fleet-Internal-Token": token}

        edge_headers = {"Authorization": f"Token {rider_token}"}
        edge: list[float] = []
        direct: list[float] = []
        for turn in range(options.warmup + options.requests):
            # The direct side signs its token outside the timing; the edge signs inside its own.
            sides = [(edge, monolith_port, edge_headers), (direct, trips_port, direct_headers())]
            for samples, port, headers in sides if turn % 2 else reversed(sides):
                elapsed = _timed(port, headers, "service")
                if turn >= options.warmup:
                    samples.append(elapsed)

        forward_mean = _forward_mean_ms(monolith_port)

        # For scale: the monolith answering the same request itself (routing back to nobody).
        _manage(monolith_env, "cohort", "route", "trips", "--nobody", "--by", "bench-mover",
                "--reason", "edge proxy benchmark, local side")  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _timed(monolith_port, edge_headers, "monolith")
                break
            except SystemExit:
                time.sleep(0.1)
        local = [
            _timed(monolith_port, edge_headers, "monolith")
            for _ in range(options.warmup + options.requests)
        ][options.warmup :]

    edge_p50, edge_p99 = _quantiles(edge)
    direct_p50, direct_p99 = _quantiles(direct)
    local_p50, local_p99 = _quantiles(local)
    print(  # noqa: T201
        f"GET {PATH}, {options.requests} requests per side, one gunicorn worker each\n"
        f"  direct to the service  p50 {direct_p50:7.2f} ms  p99 {direct_p99:7.2f} ms\n"
        f"  through the edge       p50 {edge_p50:7.2f} ms  p99 {edge_p99:7.2f} ms\n"
        f"  of which forwarding    mean {forward_mean:6.2f} ms (the edge's histogram) vs direct "
        f"mean {statistics.fmean(direct):6.2f} ms\n"
        f"  the monolith itself    p50 {local_p50:7.2f} ms  p99 {local_p99:7.2f} ms\n"
        f"  proxy cost             p50 {edge_p50 - direct_p50:7.2f} ms  "
        f"p99 {edge_p99 - direct_p99:7.2f} ms"
    )


if __name__ == "__main__":
    main()
