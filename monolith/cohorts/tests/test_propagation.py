"""Across real gunicorn processes: a flag change reaches every one within the configured
bound, and the traffic every one answers adds up in the status's window.

Two gunicorn deployables (one worker each) route trips from their own snapshots. The test
changes routing through the service, as the command and the admin do, and polls both until
each routes by the new flag, timing from just before the change to the last process to follow.
"""

import http.client
import json
import os
import secrets
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection

from monolith.cohorts.rules import Side
from monolith.cohorts.selectors import cohort_status
from monolith.cohorts.services import CohortChange, cohort_change
from monolith.platform.deployable_process import (
    database_url,
    gunicorn_serving,
    production_environment,
)

ROUNDS = 4


def probe(url: str, account: Any) -> dict[str, Any]:
    address = f"{url}/cohort-probe?module=trips&account={account}"
    with urllib.request.urlopen(address, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def wait_for(
    urls: list[str], account: Any, side: str, started: float, give_up: float
) -> dict[str, float]:
    """Seconds from ``started`` until each process routes ``account`` to ``side``."""
    seen: dict[str, float] = {}
    while len(seen) < len(urls) and time.monotonic() - started < give_up:
        for url in urls:
            if url not in seen and probe(url, account)["side"] == side:
                seen[url] = time.monotonic() - started
    return seen


def deployable_environment(routing_keys: str, **overrides: str) -> dict[str, str]:
    return production_environment(
        {
            "DATABASE_URL": database_url(connection.settings_dict),
            "WEB_CONCURRENCY": "1",
            "COHORT_ROUTED_MODULES": "trips",
            "COHORT_ROUTING_KEY_PREFIX": routing_keys,
            "COHORT_ROUTING_REFRESH_MS": str(settings.COHORT_ROUTING_REFRESH_MS),
            "LOG_LEVEL": "WARNING",
            # Production settings ask for the deployables' shared secret once it exists.
            "FLEET_INTERNAL_TOKEN_SECRET": os.environ.get(
                "FLEET_INTERNAL_TOKEN_SECRET", secrets.token_urlsafe(48)
            ),
            **overrides,
        }
    )


@pytest.mark.django_db(transaction=True)
def test_a_flag_change_reaches_every_process_within_the_bound(
    make_user: Callable[..., Any], mover: Any, routing_keys: str
) -> None:
    ann = make_user("ann")
    env = deployable_environment(routing_keys)
    bound = settings.COHORT_ROUTING_PROPAGATION_BOUND_MS / 1000
    measured: list[float] = []
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                gunicorn_serving(env=env, wsgi="monolith.cohorts.tests.probe_wsgi", quiet=True)
            )
            for _ in range(2)
        ]
        assert len({probe(url, ann.pk)["pid"] for url in urls}) == 2
        assert all(probe(url, ann.pk)["side"] == "monolith" for url in urls)
        for round_ in range(ROUNDS):
            everyone = round_ % 2 == 0
            side = "service" if everyone else "monolith"
            started = time.monotonic()
            cohort_change(
                module="trips",
                change=CohortChange(everyone=everyone),
                by=mover,
                reason=f"propagation round {round_}",
            )
            seen = wait_for(urls, ann.pk, side, started, give_up=bound * 5)
            assert len(seen) == len(urls), f"round {round_}: only {seen} followed the change"
            measured.append(max(seen.values()))
            time.sleep(0.05)
    print(  # noqa: T201 - the figure docs/cohort-routing.md quotes
        f"\npropagation to 2 gunicorn processes, refresh {settings.COHORT_ROUTING_REFRESH_MS} ms:"
        f" {', '.join(f'{value * 1000:.0f} ms' for value in measured)}"
        f" (bound {bound * 1000:.0f} ms)"
    )
    assert max(measured) <= bound


@pytest.mark.django_db(transaction=True)
def test_the_status_window_adds_up_what_every_process_answered(
    rider: Any, client_for: Callable[[Any], Any], routing_keys: str
) -> None:
    token = client_for(rider)._credentials["HTTP_AUTHORIZATION"]
    # Two workers sharing one metrics folder; each adds its own counts after every answer.
    env = deployable_environment(
        routing_keys, WEB_CONCURRENCY="2", COHORT_TRAFFIC_FLUSH_SECONDS="0"
    )
    with gunicorn_serving(env=env, quiet=True) as url:
        connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=5)
        # Vehicles answer this rider 403 (fleet staff only): counted all the same.
        for path in ["/api/v1/trips/"] * 7 + ["/api/v1/vehicles/"] * 3:
            connection.request("GET", path, headers={"Authorization": token})
            response = connection.getresponse()
            response.read()
            assert response.headers["X-Served-By"] == "monolith"
    trips, vehicles = cohort_status("trips"), cohort_status("vehicles")
    assert trips.traffic is not None
    assert vehicles.traffic is not None
    assert trips.traffic[Side.MONOLITH].requests == 7
    assert trips.traffic[Side.MONOLITH].p95_ms is not None
    assert vehicles.traffic[Side.MONOLITH].requests == 3
    assert trips.split_text == "monolith 100.0% · service 0.0% of 7 requests"
