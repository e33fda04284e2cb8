"""The monolith and the trips service as real gunicorn processes, for the edge's tests.

Each deployable has its own database. The seed makes two riders with DRF tokens (rider-ann,
rider-bo), a member of the migration team (mover) and three vehicles in the monolith.
"""

import json
import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

from monolith.platform.deployable_process import (
    ROOT,
    free_port,
    gunicorn_command,
    production_environment,
)
from monolith.platform.interservice.tests.test_deployables import (
    Deployable,
    _database,
    trips_service,
)
from monolith.platform.tests.broker_support import private_queues, queues_purge

SEED = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
tokens = {}
for name in ("rider-ann", "rider-bo"):
    user = get_user_model().objects.create_user(username=name, password="pw-" + name)
    user.groups.add(Group.objects.get(name=Role.RIDER.value))
    users_api.credit_top_up(rider_id=user.id, amount=Decimal("100.00"), reference="seed-" + name)
    tokens[name] = [str(user.id), Token.objects.create(user=user).key]
mover = get_user_model().objects.create_user(username="mover", password="pw-mover")
mover.groups.add(Group.objects.get(name=Role.MIGRATION_TEAM.value))
for n in (1, 2, 3):
    vehicles_api.vehicle_register(
        vin=vehicles_api.vin_complete(f"1HGCM82633A00440{n}"), make="Zoox", model="RX", seats=4,
        latitude=Decimal("52.5219"), longitude=Decimal("13.4132"),
    )
print(json.dumps(tokens))
"""


@dataclass
class Edge:
    monolith: Deployable
    trips: Deployable
    riders: dict[str, tuple[str, str]]  # username: (account id, DRF token)

    def sql(self, deployable: Deployable, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(deployable.env["DATABASE_URL"]) as db:
            return db.execute(query, params).fetchall()

    def execute(self, deployable: Deployable, statement: str, *params: Any) -> int:
        """Run a statement that returns no rows on ``deployable``'s database; rows changed."""
        with psycopg.connect(deployable.env["DATABASE_URL"]) as db:
            return db.execute(statement, params).rowcount

    def as_rider(
        self, name: str, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        token = self.riders[name][1]
        return self.monolith.request(
            method, path, body, **{"Authorization": f"Token {token}", **headers}
        )

    def cohort(self, *args: str) -> str:
        """``manage.py cohort ...`` against the monolith's database: all it printed."""
        done = subprocess.run(
            [*gunicorn_command(bind="")[:1], "manage.py", "cohort", *args],
            cwd=ROOT,
            env=self.monolith.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@contextmanager
def edge_processes(
    logs: Path,
    *,
    monolith_env: Mapping[str, str] | None = None,
    before_start: Callable[[Edge], None] | None = None,
) -> Iterator[Edge]:
    """Both deployables migrated, seeded and serving (trips routed by the monolith, which
    forwards to the service); ``before_start`` runs once seeded, before either serves."""
    common = {
        "FLEET_INTERNAL_TOKEN_SECRET": secrets.token_urlsafe(48),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "COHORT_ROUTING_KEY_PREFIX": f"fleet-test:edge:{uuid.uuid4().hex}:",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "INFO",
        "FLEET_INTERSERVICE_CONNECT_TIMEOUT_MS": "500",
    }
    # What its processes queue (relays, the feed's deliveries) stays in queues of its own.
    queues = private_queues("edge", 2)
    monolith_db, trips_db = _database(), _database()
    monolith_port, trips_port = free_port(), free_port()
    monolith = Deployable(
        name="monolith",
        env=production_environment(
            {
                **common,
                "DATABASE_URL": next(monolith_db),
                "CELERY_TASK_DEFAULT_QUEUE": queues[0],
                "COHORT_ROUTED_MODULES": "trips",
                # A forwarded booking calls back into the monolith while it waits.
                "GUNICORN_THREADS": "4",
                "FLEET_SERVICE_URL_TRIPS": f"http://127.0.0.1:{trips_port}",
                **(monolith_env or {}),
            }
        ),
        wsgi="monolith.wsgi",
        port=monolith_port,
        log=logs / "monolith.log",
    )
    trips = trips_service(
        common,
        database_url=next(trips_db),
        queue=queues[1],
        monolith_url=f"http://127.0.0.1:{monolith_port}",
        port=trips_port,
        log=logs / "trips.log",
    )
    try:
        monolith.manage("migrate", "--no-input")
        trips.manage("migrate", "--no-input")
        riders = json.loads(monolith.manage("shell", "-c", SEED))
        edge = Edge(monolith, trips, {name: tuple(pair) for name, pair in riders.items()})
        if before_start is not None:
            before_start(edge)
        monolith.start()
        trips.start()
        yield edge
    finally:
        trips.stop()
        monolith.stop()
        queues_purge(queues)
        next(monolith_db, None)
        next(trips_db, None)
