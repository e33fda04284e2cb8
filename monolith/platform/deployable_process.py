"""Run a deployable as a local process, as its Kubernetes manifest would: gunicorn, probes.

Used by the integration tests and the benchmarks, which must talk real HTTP to real processes.
"""

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(database: Mapping[str, Any]) -> str:
    """A ``DATABASE_URL`` for a Django database's settings, for a process of its own.

    A socket folder (the embedded PostgreSQL) works as the host: it is percent-encoded.
    """
    host = quote(str(database["HOST"] or "localhost"), safe="")
    password = f":{quote(str(database['PASSWORD']))}" if database["PASSWORD"] else ""
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{database['USER']}{password}@{host}{port}/{database['NAME']}"


def database_named(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead: another database on the same server."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def database_ensure(url: str) -> bool:
    """Create the database ``url`` names unless its server has it; True if it was created."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database_named(url, "postgres"), autocommit=True) as server:
        if server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def database_drop(url: str) -> None:
    """Drop the database ``url`` names, closing its connections first."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database_named(url, "postgres"), autocommit=True) as server:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def production_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with production settings and throwaway secrets.

    Deployables that call each other need the same ``FLEET_INTERNAL_TOKEN_SECRET``: pass it.
    """
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    env.setdefault("FLEET_INTERNAL_TOKEN_SECRET", secrets.token_urlsafe(48))
    env.update(DJANGO_SETTINGS_MODULE="monolith.settings.production", SECURE_SSL_REDIRECT="false")
    env.update(overrides or {})
    return env


def wait_healthy(port: int, *, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Return once ``/healthz`` answers 200; raise if the server died or the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before it was healthy")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} was not healthy within {timeout:.0f} s")


def gunicorn_command(*, bind: str, wsgi: str = "monolith.wsgi") -> list[str]:
    """gunicorn serving ``wsgi`` with the deployables' config, as the manifests run it."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        wsgi,
        "--config",
        "monolith/gunicorn.conf.py",
        "--bind",
        bind,
    ]


def container_environment(
    container: Mapping[str, Any],
    *,
    config_maps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """What a kubelet puts in a manifest's container's environment: its ``envFrom``
    ConfigMaps' data, then its ``env`` entries (values, or keys of Secrets), later winning.

    ``config_maps`` and ``secrets`` hold each object's data by its name; one the container
    refers to and they lack raises ``KeyError``, as the pod would not start (unless the
    reference is ``optional``).
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        if "valueFrom" in entry:
            reference = entry["valueFrom"]["secretKeyRef"]
            data = secrets.get(reference["name"], {})
            if reference.get("optional") and reference["key"] not in data:
                continue  # the kubelet leaves the variable unset
            env[entry["name"]] = secrets[reference["name"]][reference["key"]]
        else:
            env[entry["name"]] = container_expand(entry.get("value", ""), env)
    return env


def container_expand(argument: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion; a reference to a variable not set stays as written."""
    return re.sub(r"\$\((\w+)\)", lambda match: env.get(match[1], match[0]), argument)


def container_command(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """A manifest's container's command and args, expanded from ``env``, as this machine runs
    them: the image's ``python`` is this interpreter."""
    parts = [
        container_expand(part, env) for part in [*container["command"], *container.get("args", [])]
    ]
    return [sys.executable if part == "python" else part for part in parts]


def gunicorn_start(
    command: list[str], *, env: Mapping[str, str], **popen: Any
) -> subprocess.Popen[Any]:
    """Start a gunicorn ``command`` for ``foreground``, in a session of its own.

    A terminal's Ctrl-C reaches its whole process group. gunicorn's master stops its workers
    itself (SIGQUIT); a gthread worker that got the terminal's SIGINT too runs its handler
    twice and can deadlock on its thread pool's lock until the master kills it (20 s later).
    Out of the terminal's group, only the master hears of it, from ``foreground``.
    """
    return subprocess.Popen(command, cwd=ROOT, env=dict(env), start_new_session=True, **popen)


def foreground(*processes: subprocess.Popen[Any]) -> int:
    """Wait for ``processes``, handing each the Ctrl-C or SIGTERM this process receives (a
    hang-up as SIGTERM: gunicorn would take SIGHUP for a reload).

    The first to end ends the others (SIGTERM: gunicorn's graceful stop); its exit code is
    returned. A deployable does not keep serving with its peer gone.
    """

    def forward(received: int, _frame: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if received == signal.SIGHUP else received)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    if len(processes) == 1:
        return processes[0].wait()
    while True:
        ended = next((process for process in processes if process.poll() is not None), None)
        if ended is not None:
            break
        time.sleep(0.2)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        process.wait()
    return ended.returncode


@contextmanager
def gunicorn_serving(
    *, env: Mapping[str, str], wsgi: str = "monolith.wsgi", quiet: bool = False
) -> Iterator[str]:
    """Serve ``wsgi`` with gunicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        gunicorn_command(bind=f"127.0.0.1:{port}", wsgi=wsgi),
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    try:
        wait_healthy(port, server=server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
