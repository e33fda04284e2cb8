"""Each committed service runs as its manifest says, as a real process on its own database.

What a kubelet would do, with this machine's loopback for the pod's network: the init
container's command (its own migrations, on a database made for the test), then the
container's command and args with ``$(VAR)`` expanded from the container's environment (the
ConfigMap's data and the Secrets' values), probed on the probes' paths with their headers.
The bind address is the one difference: the pod listens on every interface of its own network
namespace, the test on 127.0.0.1 and a free port.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from monolith.platform.deployable_process import (
    ROOT,
    container_environment,
    database_drop,
    database_ensure,
    database_url,
    free_port,
    gunicorn_command,
    production_environment,
)
from monolith.platform.extraction.manifests import secret_references
from monolith.platform.extraction.spec import service_spec
from monolith.platform.extraction.tests.kustomize_base import kustomize_build

PROBE_TIMEOUT_SECONDS = 60

# Rows written straight into the service's database, and where its API shows them.
SEEDS = {
    "trips": (
        "from modules.trips.models import Trip\n"
        "row = Trip.objects.create(rider_id=user.id, origin_latitude='52.52', "
        "origin_longitude='13.40', destination_latitude='52.50', destination_longitude='13.45')\n",
        "/api/v1/trips/",
    ),
    "billing": (
        "from django.utils import timezone\n"
        "from modules.billing.models import Tariff\n"
        "row = Tariff.objects.create(name='Standard', currency='EUR', base_fare='2.00', "
        "per_km='1.10', per_minute='0.20', minimum_fare='5.00', effective_from=timezone.now())\n",
        "/api/v1/billing/tariffs/current/",
    ),
}
RIDER = (
    "import json\n"
    "from django.contrib.auth import get_user_model\n"
    "from django.contrib.auth.models import Group\n"
    "from rest_framework.authtoken.models import Token\n"
    "from monolith.platform.access import Role\n"
    "user = get_user_model().objects.create_user(username='rider-ann', password='pw-rider-ann')\n"
    "user.groups.add(Group.objects.get(name=Role.RIDER.value))\n"
)
REPORT = (
    "from django.contrib import admin\n"
    "from monolith.platform.registry import fleet_modules\n"
    "print(json.dumps({'token': Token.objects.create(user=user).key, 'id': str(row.id), "
    "'fleet_modules': [c.label for c in fleet_modules()], "
    "'admin': sorted({m._meta.app_label for m in admin.site._registry})}))\n"
)


@dataclass
class Pod:
    """One pod of a service's Deployment, as this machine runs it."""

    label: str
    manifests: dict[str, dict[str, Any]]
    deployments: dict[str, dict[str, Any]]
    env: dict[str, str]
    port: int

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.manifests["Deployment"]["spec"]["template"]["spec"]

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod_spec["containers"]
        return dict(container)

    def containers(self, deployment: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The init containers and containers of one of the service's Deployments."""
        spec = self.deployments[deployment]["spec"]["template"]["spec"]
        return spec.get("initContainers", []), spec["containers"]

    def expand(self, argument: str) -> str:
        # Kubernetes' $(VAR) expansion; an unknown reference stays as written.
        return re.sub(r"\$\((\w+)\)", lambda m: self.env.get(m[1], m[0]), argument)

    def command(self, container: dict[str, Any]) -> list[str]:
        parts = [self.expand(part) for part in container["command"] + container.get("args", [])]
        return [sys.executable if part == "python" else part for part in parts]

    def run(self, container: dict[str, Any], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(container),
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def get(self, probe_or_path: dict[str, Any] | str, **headers: str) -> tuple[int, bytes]:
        if isinstance(probe_or_path, str):
            path, probe_headers = probe_or_path, {}
        else:
            http_get = probe_or_path["httpGet"]
            path = http_get["path"]
            probe_headers = {h["name"]: h["value"] for h in http_get.get("httpHeaders", [])}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={**probe_headers, **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _service_database(label: str) -> Iterator[str]:
    """A database of the service's own, on the test server, dropped afterwards."""
    params = connection.settings_dict
    name = f"{params['NAME']}_{label}_service_{uuid.uuid4().hex[:8]}"
    url = database_url({**params, "NAME": name})
    database_ensure(url)
    try:
        yield name
    finally:
        database_drop(url)


@pytest.fixture(params=sorted(SEEDS))
def pod(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[Pod]:
    label = request.param
    spec = service_spec(label)
    built = kustomize_build(ROOT / spec.kustomize_base)
    # The web pods' objects by kind; the worker's and beat's Deployments by name.
    manifests = {r.kind: r.manifest for r in built if r.manifest["metadata"]["name"] == spec.name}
    deployments = {
        r.manifest["metadata"]["name"]: r.manifest for r in built if r.kind == "Deployment"
    }
    with django_db_blocker.unblock():
        databases = _service_database(label)
        name = next(databases)
        secret_values = {
            "DATABASE_URL": database_url({**connection.settings_dict, "NAME": name}),
            "SECRET_KEY": secrets.token_urlsafe(64),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "FLEET_INTERNAL_TOKEN_SECRET": secrets.token_urlsafe(48),
        }
        port = free_port()
        pod = Pod(label=label, manifests=manifests, deployments=deployments, env={}, port=port)
        # The Secrets a cluster would hold (no previous token secret: no rotation going on).
        secret_data: dict[str, dict[str, str]] = {}
        for variable, secret, key in secret_references(spec):
            secret_data.setdefault(secret, {})[key] = secret_values[variable]
        container_env = container_environment(
            pod.container,
            config_maps={spec.name: manifests["ConfigMap"]["data"]},
            secrets=secret_data,
        )
        pod.env = production_environment({**container_env, "PORT": str(port)})
        try:
            yield pod
        finally:
            next(databases, None)


def _psql_tables(pod: Pod) -> set[str]:
    with psycopg.connect(pod.env["DATABASE_URL"]) as service_db:
        rows = service_db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def _serve(pod: Pod) -> subprocess.Popen[bytes]:
    command = pod.command(pod.container)
    # The one difference from the pod: loopback instead of every interface.
    bind = command.index("--bind") + 1
    assert command[bind] == f"0.0.0.0:{pod.port}"
    command[bind] = f"127.0.0.1:{pod.port}"
    # The container runs the deployables' one gunicorn command.
    assert command == gunicorn_command(bind=command[bind], wsgi=service_spec(pod.label).wsgi_module)
    return subprocess.Popen(
        command, cwd=ROOT, env=pod.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _until_ready(pod: Pod, server: subprocess.Popen[bytes]) -> None:
    readiness = pod.container["readinessProbe"]
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited with {server.returncode} before it was ready")
        try:
            if pod.get(readiness)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready within {PROBE_TIMEOUT_SECONDS} s")


def test_the_service_migrates_its_own_database_serves_its_module_and_answers_the_probes(
    pod: Pod,
) -> None:
    (migrate,) = pod.pod_spec["initContainers"]
    migrated = pod.run(migrate)
    assert migrated.returncode == 0, migrated.stderr

    # Its own module's tables, the platform's, and no other module's.
    fleet = {"vehicles", "users", "trips", "billing"}
    owners = {table.split("_", 1)[0] for table in _psql_tables(pod)}
    assert owners & fleet == {pod.label}

    seed, endpoint = SEEDS[pod.label]
    shell = {"command": ["python", "manage.py", "shell", "-c"]}
    seeded = pod.run(shell | {"args": [RIDER + seed + REPORT]})
    assert seeded.returncode == 0, seeded.stderr
    created = json.loads(seeded.stdout.strip().splitlines()[-1])
    # The modules it depends on are installed for their code, as no fleet module of its own,
    # their admin withdrawn.
    assert created["fleet_modules"] == [pod.label]
    assert set(created["admin"]) & fleet == {pod.label}

    server = _serve(pod)
    try:
        _until_ready(pod, server)
        assert pod.get(pod.container["livenessProbe"]) == (200, b'{"status": "ok"}')
        status, body = pod.get(pod.container["readinessProbe"])
        assert status == 200
        assert json.loads(body)["checks"] == {"database": "ok", "broker": "ok"}

        host = {"Host": pod.container["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]}
        status, body = pod.get(endpoint, Authorization=f"Token {created['token']}", **host)
        assert status == 200, body
        assert created["id"] in body.decode()
        assert pod.get(endpoint, **host)[0] == 401
        # Only its own module's API is here.
        for other in fleet - {pod.label}:
            assert pod.get(f"/api/v1/{other}/", **host)[0] == 404
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert b"Traceback" not in stderr, stderr.decode()


def test_a_missing_module_url_stops_the_start_up_naming_the_variable(pod: Pod) -> None:
    other = next(label for label in ("users", "trips") if label != pod.label)
    variable = f"FLEET_MODULE_URL_{other.upper()}"
    message = (
        f"Set {variable} to the base URL of the {other} module (for example "
        f"http://monolith:8000): the {pod.label} service reaches {other} over HTTP."
    )
    (migrate,) = pod.pod_spec["initContainers"]
    done = pod.run(migrate, **{variable: ""})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"Configuration error: {message}"]

    started = time.monotonic()
    pod.env[variable] = ""
    server = _serve(pod)
    _, stderr = server.communicate(timeout=PROBE_TIMEOUT_SECONDS)
    # gunicorn halts when its workers cannot boot, saying why on a line of its own.
    assert server.returncode != 0
    assert message in stderr.decode().splitlines()
    assert time.monotonic() - started < PROBE_TIMEOUT_SECONDS


def test_a_malformed_module_url_or_a_short_token_secret_is_one_line(pod: Pod) -> None:
    (migrate,) = pod.pod_spec["initContainers"]
    done = pod.run(migrate, FLEET_MODULE_URL_USERS="monolith:8000", FLEET_MODULE_URL_TRIPS="x")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(
        r"Configuration error: FLEET_MODULE_URL_(USERS|TRIPS)='[^']+' is not a base URL: .+", line
    )
    done = pod.run(migrate, FLEET_INTERNAL_TOKEN_SECRET="short")
    assert done.stderr.splitlines() == [
        "Configuration error: Set FLEET_INTERNAL_TOKEN_SECRET to the secret the deployables "
        "share to sign internal calls: the same value in the monolith and every service, at "
        "least 32 characters."
    ]


def _start(
    pod: Pod, command: list[str], env: dict[str, str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    # A process group of its own: a worker's pool goes with it.
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _probe(command: list[str], env: dict[str, str]) -> int:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60).returncode


def test_the_worker_waits_for_migrations_runs_beat_s_tasks_and_answers_its_probe(
    pod: Pod, tmp_path: Path
) -> None:
    spec = service_spec(pod.label)
    (check,), (worker,) = pod.containers(spec.worker_name)
    _, (beat,) = pod.containers(spec.beat_name)
    # The worker's init container fails (the kubelet retries it) until the web pod's has
    # applied the migrations.
    assert pod.run(check).returncode != 0
    (migrate,) = pod.pod_spec["initContainers"]
    assert pod.run(migrate).returncode == 0
    assert pod.run(check).returncode == 0, pod.run(check).stderr

    # The service's beat sends the platform's tasks and its own module's, no other module's.
    script = "from django.conf import settings; print(*sorted(settings.CELERY_BEAT_SCHEDULE))"
    scheduled = pod.run({"command": ["python", "manage.py", "shell", "-c"], "args": [script]})
    assert scheduled.returncode == 0, scheduled.stderr
    names = scheduled.stdout.strip().splitlines()[-1].split()
    others = {"vehicles", "users", "trips", "billing"} - {pod.label}
    # A service always has a feed to read (the monolith's of its module).
    assert names == sorted(
        {"platform.events_pull"}
        | {
            name
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
            if entry["task"].split(".", 1)[0] not in others
        }
    )
    assert {"platform.outbox_sweep", "cohorts.shadow_mismatches_prune"} <= set(names)
    assert ("trips.booking_saga_resume_stale" in names) == (pod.label == "trips")

    # What the pod has that this machine's environment lacks: its name, and the image's PATH
    # (the probe's shell finds the image's python).
    env = {
        **pod.env,
        "HOSTNAME": socket.gethostname(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    beat_command = pod.command(beat)
    # The one difference from the pod: its /tmp is its own, here a folder of the test's.
    (schedule,) = [i for i, part in enumerate(beat_command) if part.startswith("--schedule=")]
    beat_command[schedule] = f"--schedule={tmp_path / 'celerybeat-schedule'}"
    liveness = worker["livenessProbe"]["exec"]["command"]
    with (
        (tmp_path / "worker.log").open("wb") as worker_log,
        (tmp_path / "beat.log").open("wb") as beat_log,
    ):
        processes = [
            _start(pod, pod.command(worker), env, worker_log),
            _start(pod, beat_command, env, beat_log),
        ]
    try:
        deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
        while _probe(worker["startupProbe"]["exec"]["command"], env) != 0:
            assert processes[0].poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
        # The feed's pull (every 2 s, the first beat entry due) goes from beat to the
        # service's queue and to this worker.
        swept = re.compile(r"Task platform\.events_pull\[[^]]+\] succeeded")
        while not swept.search((tmp_path / "worker.log").read_text(errors="replace")):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        assert f"fleet.{pod.label}-service" in (tmp_path / "worker.log").read_text()
        assert _probe(liveness, env) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # what the kubelet sends first
        try:
            stopped = [process.wait(timeout=PROBE_TIMEOUT_SECONDS) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
    assert stopped == [0, 0], (tmp_path / "worker.log").read_text()
    # A stopped worker's node does not answer: the probe fails (and another node's answer
    # would not count). Asked with a shorter wait than the probe's: nobody will answer.
    assert _probe([re.sub(r"--timeout=\d+", "--timeout=2", part) for part in liveness], env) != 0
    log = (tmp_path / "worker.log").read_text() + (tmp_path / "beat.log").read_text()
    assert "Traceback" not in log, log
