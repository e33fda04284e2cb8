"""Remembered tokens between real processes: two monolith edges (gunicorn, one worker each, on
one database and Redis) and the trips service, the change made by a third process
(``manage.py shell``), as an operator would make it.

rider-ann and rider-bo are in trips' cohort: their reads go to the service through either
edge. Once a token is revoked, each edge answers 401 itself (the routing decision sees an
anonymous caller) within the propagation bound, though both remembered the token. The edges
are asked every few milliseconds while the change is made; the change prints when it
committed, and each edge's delay is counted from there (one clock: one machine).
"""

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from monolith.platform.deployable_process import ROOT, free_port, gunicorn_command
from monolith.platform.edge.tests.processes import Edge, edge_processes
from monolith.platform.interservice.tests.test_deployables import Deployable

PATH = "/api/v1/trips/"


def _route_riders(edge: Edge) -> None:
    edge.cohort("route", "trips", "--add-user", "rider-ann", "--add-user", "rider-bo",
                "--by", "mover", "--reason", "edge credentials test")  # fmt: skip


@pytest.fixture(scope="module")
def edges(
    django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Edge, list[Deployable]]]:
    logs = tmp_path_factory.mktemp("edge-credentials")
    with django_db_blocker.unblock(), edge_processes(logs, before_start=_route_riders) as edge:
        other = Deployable(
            name="monolith-2",
            env=edge.monolith.env,
            wsgi="monolith.wsgi",
            port=free_port(),
            log=logs / "monolith-2.log",
        )
        other.start()
        try:
            yield edge, [edge.monolith, other]
        finally:
            other.stop()


def _status(deployable: Deployable, token: str) -> tuple[int, str]:
    status, headers, _ = deployable.request("GET", PATH, Authorization=f"Token {token}")
    return status, headers.get("X-Served-By", "")


def _remembered_by_both(monoliths: list[Deployable], token: str) -> None:
    for monolith in monoliths:
        hits = monolith.metric("fleet_edge_credential_lookups_total", result="hit")
        assert _status(monolith, token) == (200, "service")
        assert _status(monolith, token) == (200, "service")
        assert monolith.metric("fleet_edge_credential_lookups_total", result="hit") > hits


def _seconds_until_refused(
    edge: Edge, monoliths: list[Deployable], token: str, change: str
) -> dict[str, float]:
    """Run ``change`` (Python for ``manage.py shell``, printing ``time.time()`` once committed)
    while asking both edges; how long after the commit each still forwarded ``token``."""
    process = subprocess.Popen(
        [*gunicorn_command(bind="")[:1], "manage.py", "shell", "-c", change],
        cwd=ROOT,
        env=edge.monolith.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    refused_at: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(refused_at) < len(monoliths) and time.monotonic() < deadline:
        for monolith in monoliths:
            if monolith.name not in refused_at and _status(monolith, token) == (401, "monolith"):
                refused_at[monolith.name] = time.time()
        time.sleep(0.005)
    printed, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    committed_at = float(printed.split()[-1])
    return {name: at - committed_at for name, at in refused_at.items()}


def _within_bound(refused: dict[str, float]) -> None:
    bound = settings.COHORT_ROUTING_PROPAGATION_BOUND_MS / 1000
    assert set(refused) == {"monolith", "monolith-2"}, refused
    assert max(refused.values()) <= bound, refused


def test_a_rotated_token_is_refused_by_every_edge_within_the_bound(
    edges: tuple[Edge, list[Deployable]],
) -> None:
    edge, monoliths = edges
    old = edge.riders["rider-ann"][1]
    _remembered_by_both(monoliths, old)

    refused = _seconds_until_refused(
        edge,
        monoliths,
        old,
        "import time\n"
        "from django.core.management import call_command\n"
        "call_command('drf_create_token', '--reset', 'rider-ann')\n"
        "print(time.time())",
    )

    _within_bound(refused)
    new = edge.sql(edge.monolith, "SELECT key FROM authtoken_token t JOIN accounts_user u "
                   "ON u.id = t.user_id WHERE u.username = 'rider-ann'")[0][0]  # fmt: skip
    assert new != old
    for monolith in monoliths:
        assert _status(monolith, new) == (200, "service")


def test_a_deactivated_riders_token_is_refused_by_every_edge_within_the_bound(
    edges: tuple[Edge, list[Deployable]],
) -> None:
    edge, monoliths = edges
    token = edge.riders["rider-bo"][1]
    _remembered_by_both(monoliths, token)

    refused = _seconds_until_refused(
        edge,
        monoliths,
        token,
        "import time\n"
        "from django.contrib.auth import get_user_model\n"
        "rider = get_user_model().objects.get(username='rider-bo')\n"
        "rider.is_active = False\n"
        "rider.save()\n"
        "print(time.time())",
    )

    _within_bound(refused)
