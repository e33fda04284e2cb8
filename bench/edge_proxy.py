"""Proxy cost of the edge: a trips read through the monolith's edge minus the same read sent
straight to the trips service, on loopback, in one run.

Run with DATABASE_URL (a PostgreSQL server this can create two databases on) and
CELERY_BROKER_URL set, or inside the embedded environment:

    .venv/bin/python -m monolith.embedded -- .venv/bin/python -m bench.edge_proxy

It starts the monolith and the trips service under gunicorn (one worker each, gthread: the
monolith with threads, as a forwarded booking calls back into it; the service with the
threads and keep-alive its ConfigMap sets) on databases of their own, routes trips to the
service for everyone, and times ``GET /api/v1/trips/`` for one rider: through the monolith
with the rider's DRF token ("edge": authentication, read once and then remembered by the edge,
the routing decision, a signed token, the forward over a pooled connection; run with
``FLEET_EDGE_AUTH_CACHE_SECONDS=0`` to read it every time) and straight to the service with the
internal token the edge would send ("direct"), one of each in turn, a new client connection
each, in ``--rounds`` rounds (``--service-worker sync`` runs the service's worker as it was
before gthread, for comparison). It prints p50 and p99 of both and their difference per round
and their medians; how many connections the service closed and how many the edge kept open to
it (from the kernel's socket table: a pool that reconnects per request leaves one closed
connection per request); then, for scale, the monolith answering the same request itself
(routing back to nobody), its ``/healthz`` (gunicorn and Django answering with no work: the
floor of any hop through it), and the edge's own forwarding time (its histogram's mean).
Nothing here asserts on time.

``--profile N`` then builds the monolith's WSGI handler in this process, on the same database
and settings, and sends it the same edge request N times (the service still answering): it
prints the monolith's queries per forwarded request, its mean time in the handler, and the
functions that take the most of it (cProfile).
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from monolith.platform.deployable_process import (
    ROOT,
    database_drop,
    database_ensure,
    database_named,
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


# The service's gunicorn settings as its Kubernetes ConfigMap gives them.
SERVICE_CONFIG = ROOT / "extracted" / "trips" / "k8s" / "base" / "configmap.yaml"
GUNICORN_VARIABLES = ("GUNICORN_THREADS", "GUNICORN_KEEPALIVE", "GUNICORN_TIMEOUT")
TCP_STATES = {"01": "established", "06": "time_wait"}


@contextmanager
def _database(server_url: str, name: str) -> Iterator[str]:
    url = database_named(server_url, name)
    database_ensure(url)
    try:
        yield url
    finally:
        database_drop(url)


def _service_gunicorn() -> dict[str, str]:
    data = yaml.safe_load(SERVICE_CONFIG.read_text())["data"]
    return {name: data[name] for name in GUNICORN_VARIABLES}


def _sockets(port: int) -> dict[str, int]:
    """Loopback TCP sockets whose local port is ``port`` (the server's side), by state."""
    counts = dict.fromkeys(TCP_STATES.values(), 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, state = line.split()[1:4]
            if int(local.rsplit(":", 1)[1], 16) == port and state in TCP_STATES:
                counts[TCP_STATES[state]] += 1
    return counts


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


def _timed(port: int, headers: dict[str, str], served_by: str | None, path: str = PATH) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Host": "localhost", **headers})
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    if response.status != 200 or response.getheader("X-Served-By") != served_by:
        raise SystemExit(
            f"{path} answered {response.status} from {response.getheader('X-Served-By')}"
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


def _edge_environ(headers: dict[str, str]) -> dict[str, object]:
    environ: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _profile(headers: dict[str, str], count: int) -> list[str]:
    """The monolith's handler in this process answering the edge request ``count`` times."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    handler = WSGIHandler()
    queries: list[str] = []
    status = [""]

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    def start_response(line: str, _headers: Any, *_: Any) -> Callable[[bytes], object]:
        status[0] = line
        return lambda _: None

    def answer(times: int = 1) -> None:
        for _ in range(times):
            body = b"".join(handler(_edge_environ(headers), start_response))
            if not status[0].startswith("200") or not body:
                raise SystemExit(f"{PATH} answered {status[0]} in process")

    answer(100)
    with connection.execute_wrapper(counted):
        answer()
    started = time.perf_counter()
    answer(count)
    mean = (time.perf_counter() - started) / count * 1000
    profiler = cProfile.Profile()
    profiler.runcall(answer, count)
    report = io.StringIO()
    stats = pstats.Stats(profiler, stream=report)
    stats.sort_stats("cumulative").print_stats(70)
    stats.sort_stats("tottime").print_stats(25)
    return [
        f"  in process ({count} edge requests): {len(queries)} queries per forwarded request "
        f"({'; '.join(sql[:70] for sql in queries) or 'none'}), "
        f"mean {mean:.2f} ms in the handler",
        report.getvalue(),
    ]


def _quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=1000, help="timed requests per side and round"
    )
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, reported with medians")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="then profile N edge requests in this process (cProfile)",
    )
    parser.add_argument(
        "--service-worker",
        choices=("gthread", "sync"),
        default="gthread",
        help="the service's gunicorn worker class: sync (one thread) for comparison",
    )
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
                **_service_gunicorn(),
                # gunicorn takes these over its config file.
                **(
                    {"GUNICORN_CMD_ARGS": "--worker-class sync --threads 1"}
                    if options.service_worker == "sync"
                    else {}
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

        # This process runs with the monolith's settings and database (a profile runs its
        # handler here); metrics as under gunicorn, in a folder of their own.
        os.environ.update(monolith_env)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(
            tempfile.TemporaryDirectory(prefix="fleet-bench-metrics-")
        )
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
        closed_before = _sockets(trips_port)["time_wait"]
        rounds: list[tuple[list[float], list[float]]] = []
        print(f"load average before: {_load()}", flush=True)  # noqa: T201
        for _ in range(options.rounds):
            edge: list[float] = []
            direct: list[float] = []
            for turn in range(options.warmup + options.requests):
                # The direct side signs its token outside the timing; the edge, inside its own.
                sides = [
                    (edge, monolith_port, edge_headers),
                    (direct, trips_port, direct_headers()),
                ]
                for samples, port, headers in sides if turn % 2 else reversed(sides):
                    elapsed = _timed(port, headers, "service")
                    if turn >= options.warmup:
                        samples.append(elapsed)
            rounds.append((edge, direct))
            if len(rounds) == 1:
                # Closed sockets stay in TIME_WAIT for 60 s: counted after a round that short.
                closed = _sockets(trips_port)["time_wait"] - closed_before
        sockets = _sockets(trips_port)
        print(f"load average after:  {_load()}", flush=True)  # noqa: T201
        per_round = options.warmup + options.requests

        forward_mean = _forward_mean_ms(monolith_port)
        # The floor of any hop through the monolith: gunicorn and Django answering at once.
        empty = [
            _timed(monolith_port, {}, None, "/healthz")
            for _ in range(options.warmup + options.requests)
        ][options.warmup :]
        profile = _profile(edge_headers, options.profile) if options.profile else []

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

    lines = [
        f"GET {PATH}, {options.requests} requests per side and round, one gunicorn worker each "
        f"(the service's: {options.service_worker})",
        "   round  direct p50 / p99     edge p50 / p99       proxy cost p50 / p99",
    ]
    figures = []
    for edge, direct in rounds:
        (edge_p50, edge_p99), (direct_p50, direct_p99) = _quantiles(edge), _quantiles(direct)
        costs = (edge_p50 - direct_p50, edge_p99 - direct_p99)
        figures.append((direct_p50, direct_p99, edge_p50, edge_p99, *costs))
    medians = tuple(statistics.median(column) for column in zip(*figures, strict=True))
    for name, row in [*((str(n), f) for n, f in enumerate(figures, 1)), ("median", medians)]:
        lines.append(
            f"  {name:>6} {row[0]:6.2f} / {row[1]:6.2f} ms  {row[2]:6.2f} / {row[3]:6.2f} ms  "
            f"{row[4]:6.2f} / {row[5]:6.2f} ms"
        )
    local_p50, local_p99 = _quantiles(local)
    lines += [
        f"  forwarding      mean {forward_mean:6.2f} ms (the edge's histogram) vs direct mean "
        f"{statistics.fmean(rounds[-1][1]):6.2f} ms",
        f"  monolith itself p50 {local_p50:7.2f} ms  p99 {local_p99:7.2f} ms",
        "  monolith's /healthz p50 {:5.2f} ms  p99 {:7.2f} ms (an answer with no work)".format(
            *_quantiles(empty)
        ),
        f"  connections the service closed in round 1: {closed}, for {per_round} forwarded "
        f"and {per_round} direct requests (a client closing first leaves no trace there); "
        f"open to it at the end: {sockets['established']} (the edge's pool)",
    ]
    print("\n".join([*lines, *profile]))  # noqa: T201


if __name__ == "__main__":
    main()
