"""Run a deployable as a local process, as its Kubernetes manifest would: gunicorn, probes.

Used by the integration tests and the benchmarks, which must talk real HTTP to real processes.
"""

import http.client
import os
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
from urllib.parse import quote

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


def foreground(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process``, handing it the Ctrl-C or SIGTERM this process receives."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: process.send_signal(received))
    return process.wait()


@contextmanager
def gunicorn_serving(
    *, env: Mapping[str, str], wsgi: str = "monolith.wsgi", quiet: bool = False
) -> Iterator[str]:
    """Serve ``wsgi`` with gunicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            wsgi,
            "--config",
            "monolith/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
        ],
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
