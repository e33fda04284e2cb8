"""The deployable as it runs in production: gunicorn workers, probes and summed metrics."""

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.db import connection

from monolith.platform.deployable_process import (
    database_url,
    gunicorn_serving,
    production_environment,
)


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn_url(transactional_db: None) -> Iterator[str]:
    # No PROMETHEUS_MULTIPROC_DIR: the gunicorn config must arrange the shared metrics itself.
    env = production_environment(
        {"DATABASE_URL": database_url(connection.settings_dict), "WEB_CONCURRENCY": "2"}
    )
    with gunicorn_serving(env=env, quiet=True) as url:
        yield url


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
