"""The deployable as it runs in production: gunicorn workers, probes and summed metrics."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _database_url(database: dict[str, Any]) -> str:
    """The URL of the test database, for a server process (a socket folder works as host)."""
    host = quote(database["HOST"] or "localhost", safe="")
    password = f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{database['USER']}{password}@{host}{port}/{database['NAME']}"


@pytest.fixture
def gunicorn_url(transactional_db: None) -> Iterator[str]:
    port = _free_port()
    # No PROMETHEUS_MULTIPROC_DIR: the gunicorn config must arrange the shared metrics itself.
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        DJANGO_SETTINGS_MODULE="monolith.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=_database_url(connection.settings_dict),
        WEB_CONCURRENCY="2",
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "monolith.wsgi",
            "--config",
            "monolith/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{url}/healthz")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_serves_probes_request_ids_and_metrics_summed_over_workers(
    gunicorn_url: str,
) -> None:
    status, _, body = _get(f"{gunicorn_url}/readyz")
    assert status == 200, body

    for index in range(12):
        status, headers, _ = _get(f"{gunicorn_url}/api/v1/trips/", **{"X-Request-ID": f"r-{index}"})
        assert status == 401
        assert headers["X-Request-ID"] == f"r-{index}"

    status, _, metrics = _get(f"{gunicorn_url}/metrics")
    assert status == 200
    line = next(
        row
        for row in metrics.decode().splitlines()
        if row.startswith("fleet_http_requests_total{")
        and 'module="trips"' in row
        and 'status="401"' in row
    )
    # Every request counted once, whichever worker answered it.
    assert float(line.rsplit(" ", 1)[1]) == 12.0
