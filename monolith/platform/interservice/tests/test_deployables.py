"""The monolith and the trips service as real gunicorn processes, each on its own database.

A rider books a trip through the trips service's REST API, authenticated as the edge would
forward it (an internal token naming the account); the booking saga runs in the service and
its users and vehicles calls cross HTTP to the monolith, signed, with the request id. With the
monolith stopped, a booking is accepted as pending and nothing is held; once the monolith is
back, the stored booking resumes and completes.
"""

import json
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from monolith.platform.deployable_process import (
    ROOT,
    database_drop,
    database_ensure,
    database_url,
    free_port,
    gunicorn_command,
    production_environment,
    wait_healthy,
)
from monolith.platform.interservice.tokens import internal_token_issue
from monolith.platform.tests.broker_support import private_queues, queues_purge

ROUTE = {
    "origin_latitude": "52.521918",
    "origin_longitude": "13.413215",
    "destination_latitude": "52.516275",
    "destination_longitude": "13.377704",
}
SEED = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
riders = []
for name in ("rider-ann", "rider-bo"):
    user = get_user_model().objects.create_user(username=name, password="pw-" + name)
    user.groups.add(Group.objects.get(name=Role.RIDER.value))
    users_api.credit_top_up(rider_id=user.id, amount=Decimal("100.00"), reference="seed-" + name)
    riders.append(str(user.id))
vehicles = [
    str(vehicles_api.vehicle_register(
        vin=vehicles_api.vin_complete(f"1HGCM82633A00440{n}"), make="Zoox", model="RX", seats=4,
        latitude=Decimal("52.5219"), longitude=Decimal("13.4132"),
    ).id)
    for n in (1, 2)
]
print(json.dumps({"riders": riders, "vehicles": vehicles}))
"""
RESUME = """
import json
from modules.trips.booking import booking_saga_resume
run = booking_saga_resume(saga_id="{saga_id}")
saga = run.saga
print(json.dumps({{"state": saga.state, "step": saga.step, "hold_id": str(saga.hold_id),
                  "vehicle_id": str(saga.vehicle_id)}}))
"""


@dataclass
class Deployable:
    name: str
    env: dict[str, str]
    wsgi: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str, **env: str) -> str:
        done = subprocess.run(
            [*gunicorn_command(bind="")[:1], "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                gunicorn_command(bind=f"127.0.0.1:{self.port}", wsgi=self.wsgi),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(self.port, server=self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log.read_text().splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines

    def request(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http to loopback
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Host": "localhost", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, answer_headers, raw = (
                    response.status,
                    dict(response.headers),
                    response.read(),
                )
        except urllib.error.HTTPError as error:
            status, answer_headers, raw = error.code, dict(error.headers), error.read()
        try:
            return status, answer_headers, json.loads(raw)
        except ValueError:
            return status, answer_headers, raw.decode()

    def metric(self, name: str, **labels: str) -> float:
        _, _, text = self.request("GET", "/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


@dataclass
class Fleet:
    monolith: Deployable
    trips: Deployable
    secret: str
    riders: list[str]
    vehicles: list[str]

    def sql(self, deployable: Deployable, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(deployable.env["DATABASE_URL"]) as db:
            return db.execute(query, params).fetchall()

    def edge_token(self, rider: str, audience: str = "trips") -> str:
        """What the edge forwards for an authenticated rider."""
        return internal_token_issue(
            audience=audience,
            account_id=uuid.UUID(rider),
            roles=["rider"],
            issuer="monolith",
            secret=self.secret.encode(),
        )


def _database() -> Iterator[str]:
    """A database of its own on the test server (its URL), dropped afterwards."""
    params = connection.settings_dict
    url = database_url({**params, "NAME": f"{params['NAME']}_interservice_{uuid.uuid4().hex[:8]}"})
    database_ensure(url)
    try:
        yield url
    finally:
        database_drop(url)


def trips_service(
    common: dict[str, str],
    *,
    database_url: str,
    queue: str,
    monolith_url: str,
    port: int,
    log: Path,
) -> Deployable:
    """The trips service as its Deployment runs it, reaching every other module at the
    monolith, with ``common`` (the secret and settings both deployables share)."""
    return Deployable(
        name="trips",
        env=production_environment(
            {
                **common,
                "DJANGO_SETTINGS_MODULE": "extracted.trips.settings",
                "DATABASE_URL": database_url,
                "CELERY_TASK_DEFAULT_QUEUE": queue,
                **{
                    f"FLEET_MODULE_URL_{label.upper()}": monolith_url
                    for label in ("users", "vehicles", "billing")
                },
            }
        ),
        wsgi="extracted.trips.wsgi",
        port=port,
        log=log,
    )


@pytest.fixture(scope="module")
def fleet(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    logs = tmp_path_factory.mktemp("deployables")
    secret = secrets.token_urlsafe(48)
    common = {
        "FLEET_INTERNAL_TOKEN_SECRET": secret,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "INFO",
        # Fail fast in the outage test; the breaker counts attempts, not seconds.
        "FLEET_INTERSERVICE_CONNECT_TIMEOUT_MS": "500",
        "FLEET_INTERSERVICE_BREAKER_RESET_SECONDS": "2",
    }
    # What its processes queue stays in queues of its own, purged when it ends.
    queues = private_queues("deployables", 2)
    with django_db_blocker.unblock():
        monolith_db, trips_db = _database(), _database()
        monolith_port = free_port()
        monolith = Deployable(
            name="monolith",
            env=production_environment(
                {
                    **common,
                    "DATABASE_URL": next(monolith_db),
                    "CELERY_TASK_DEFAULT_QUEUE": queues[0],
                }
            ),
            wsgi="monolith.wsgi",
            port=monolith_port,
            log=logs / "monolith.log",
        )
        monolith_url = f"http://127.0.0.1:{monolith_port}"
        trips = trips_service(
            common,
            database_url=next(trips_db),
            queue=queues[1],
            monolith_url=monolith_url,
            port=free_port(),
            log=logs / "trips.log",
        )
        try:
            monolith.manage("migrate", "--no-input")
            trips.manage("migrate", "--no-input")
            seeded = json.loads(monolith.manage("shell", "-c", SEED))
            monolith.start()
            trips.start()
            yield Fleet(monolith, trips, secret, seeded["riders"], seeded["vehicles"])
        finally:
            trips.stop()
            monolith.stop()
            queues_purge(queues)
            next(monolith_db, None)
            next(trips_db, None)


def test_a_booking_in_the_service_holds_credit_and_reserves_a_vehicle_in_the_monolith(
    fleet: Fleet,
) -> None:
    rider = fleet.riders[0]
    request_id = f"h7-booking-{uuid.uuid4().hex[:8]}"

    status, headers, body = fleet.trips.request(
        "POST",
        "/api/v1/trips/",
        ROUTE,
        **{"X-Fleet-Internal-Token": fleet.edge_token(rider), "X-Request-ID": request_id},
    )

    assert status == 201, body
    assert headers["X-Served-By"] == "service"
    trip_id = body["id"]
    assert (body["rider_id"], body["status"]) == (rider, "assigned")
    assert body["vehicle_id"] in fleet.vehicles
    # The trip is the service's; the hold and the reservation are the monolith's.
    assert fleet.sql(fleet.trips, "SELECT rider_id::text FROM trips_trip WHERE id = %s", trip_id)
    assert fleet.sql(
        fleet.monolith,
        "SELECT amount, status FROM users_credithold WHERE reference = %s",
        f"trip:{trip_id}",
    ) == [(Decimal(settings.FLEET_BOOKING_CREDIT_HOLD), "held")]
    assert fleet.sql(
        fleet.monolith,
        "SELECT id::text, status FROM vehicles_vehicle WHERE current_trip_id = %s",
        trip_id,
    ) == [(body["vehicle_id"], "reserved")]
    assert not fleet.sql(fleet.trips, "SELECT 1 FROM pg_tables WHERE tablename LIKE 'users\\_%%'")

    # The monolith answered the saga's calls, signed by the service, for the rider, under the
    # request id the service was given.
    calls = [
        line
        for line in fleet.monolith.log_lines()
        if line.get("logger") == "fleet.interservice" and line["request_id"] == request_id
    ]
    assert {(c["fleet_module"], c["function"]) for c in calls} == {
        ("users", "rider_get"),
        ("users", "credit_hold"),
        ("vehicles", "vehicle_reserve_for_trip"),
    }
    assert {(c["caller"], c["account_id"], c["outcome"]) for c in calls} == {
        ("trips-service", rider, "ok")
    }
    access = [
        line["path"]
        for line in fleet.monolith.log_lines()
        if line.get("logger") == "fleet.access" and line["request_id"] == request_id
    ]
    assert "/internal/v1/users/credit_hold" in access
    assert "/internal/v1/vehicles/vehicle_reserve_for_trip" in access
    assert (
        fleet.monolith.metric(
            "fleet_interservice_served_total",
            module="users",
            function="credit_hold",
            caller="trips-service",
            outcome="ok",
        )
        >= 1
    )
    assert (
        fleet.trips.metric(
            "fleet_interservice_calls_total", module="vehicles", function="vehicle_reserve_for_trip"
        )
        >= 1
    )

    # A refusal from the monolith crosses back as the module's error and is compensated.
    status, _, body = fleet.trips.request(
        "POST", "/api/v1/trips/", ROUTE, **{"X-Fleet-Internal-Token": fleet.edge_token(rider)}
    )
    assert (status, body["code"]) == (409, "active_trip_exists")


def test_the_service_refuses_a_forged_or_foreign_edge_token(fleet: Fleet) -> None:
    rider = fleet.riders[1]
    forged = internal_token_issue(
        audience="trips", account_id=uuid.UUID(rider), roles=["rider"], secret=b"x" * 48
    )
    foreign = fleet.edge_token(rider, audience="users")
    for token, reason in ((forged, "signature does not match"), (foreign, "not 'trips'")):
        status, headers, body = fleet.trips.request(
            "GET", "/api/v1/trips/", **{"X-Fleet-Internal-Token": token}
        )
        assert status == 401, body
        assert reason in body["detail"]
        assert headers["WWW-Authenticate"] == "Fleet-Internal"
    assert fleet.trips.request("GET", "/api/v1/trips/")[0] == 401
    status, _, body = fleet.trips.request(
        "GET", "/api/v1/trips/", **{"X-Fleet-Internal-Token": fleet.edge_token(rider)}
    )
    assert (status, body["results"]) == (200, [])


def test_the_monolith_refuses_unsigned_expired_and_foreign_internal_calls(fleet: Fleet) -> None:
    arguments = {"arguments": {"rider_id": fleet.riders[0]}}
    expired = internal_token_issue(
        audience="users", now=time.time() - 300, secret=fleet.secret.encode()
    )
    cases = [
        ({}, 401, "token_missing"),
        ({"X-Fleet-Internal-Token": expired}, 401, "token_expired"),
        (
            {"X-Fleet-Internal-Token": internal_token_issue(audience="users", secret=b"y" * 48)},
            401,
            "token_invalid",
        ),
        (
            {
                "X-Fleet-Internal-Token": internal_token_issue(
                    audience="vehicles", secret=fleet.secret.encode()
                )
            },
            403,
            "token_wrong_audience",
        ),
    ]
    for headers, status, code in cases:
        answer, _, body = fleet.monolith.request(
            "POST", "/internal/v1/users/rider_get", arguments, **headers
        )
        assert (answer, body["code"]) == (status, code)
    signed = internal_token_issue(audience="users", secret=fleet.secret.encode())
    answer, _, body = fleet.monolith.request(
        "POST", "/internal/v1/users/rider_get", arguments, **{"X-Fleet-Internal-Token": signed}
    )
    assert (answer, body["result"]["username"]) == (200, "rider-ann")


def test_with_the_monolith_down_a_booking_is_pending_holds_nothing_and_resumes_later(
    fleet: Fleet,
) -> None:
    rider = fleet.riders[1]
    fleet.monolith.stop()
    try:
        status, headers, body = fleet.trips.request(
            "POST", "/api/v1/trips/", ROUTE, **{"X-Fleet-Internal-Token": fleet.edge_token(rider)}
        )

        # Accepted, not done: the booking is stored and goes on by itself.
        assert status == 202, body
        saga_id = body["id"]
        assert headers["Location"].endswith(f"/api/v1/trips/bookings/{saga_id}/")
        assert int(headers["Retry-After"]) >= 1
        assert body["state"] == "running"
        (saga,) = fleet.sql(
            fleet.trips,
            "SELECT state, step, hold_id, trip_id::text FROM trips_bookingsaga WHERE id = %s",
            saga_id,
        )
        assert saga[:3] == ("running", "reserve_credit", None)
        trip_id = saga[3]
        # Nothing was held or reserved, and no trip exists.
        assert not fleet.sql(
            fleet.monolith,
            "SELECT 1 FROM users_credithold WHERE reference = %s",
            f"trip:{trip_id}",
        )
        assert not fleet.sql(fleet.trips, "SELECT 1 FROM trips_trip WHERE id = %s", trip_id)

        # The breaker opened: the next call fails fast, with the time to wait.
        for _ in range(2):
            fleet.trips.request(
                "POST",
                "/api/v1/trips/",
                ROUTE,
                **{"X-Fleet-Internal-Token": fleet.edge_token(fleet.riders[0])},
            )
        assert (
            fleet.trips.metric(
                "fleet_interservice_calls_total", module="users", outcome="circuit_open"
            )
            >= 1
        )
    finally:
        fleet.monolith.start()

    # Back, but vehicles unreachable: the credit is held by a booking still running, which
    # knows its hold.
    dead = f"http://127.0.0.1:{free_port()}"
    halfway = json.loads(
        fleet.trips.manage(
            "shell", "-c", RESUME.format(saga_id=saga_id), FLEET_MODULE_URL_VEHICLES=dead
        )
    )
    assert (halfway["state"], halfway["step"]) == ("running", "reserve_vehicle")
    assert fleet.sql(
        fleet.monolith,
        "SELECT id::text, status FROM users_credithold WHERE reference = %s",
        f"trip:{trip_id}",
    ) == [(halfway["hold_id"], "held")]

    # Everything back: the same booking finishes; one hold, one vehicle, one trip.
    time.sleep(2.1)  # the retry delay the first run set
    done = json.loads(fleet.trips.manage("shell", "-c", RESUME.format(saga_id=saga_id)))
    assert done["state"] == "confirmed", done
    assert fleet.sql(
        fleet.monolith,
        "SELECT id::text, status FROM users_credithold WHERE reference = %s",
        f"trip:{trip_id}",
    ) == [(halfway["hold_id"], "held")]
    assert fleet.sql(
        fleet.monolith, "SELECT id::text FROM vehicles_vehicle WHERE current_trip_id = %s", trip_id
    ) == [(done["vehicle_id"],)]
    assert fleet.sql(fleet.trips, "SELECT status FROM trips_trip WHERE id = %s", trip_id) == [
        ("assigned",)
    ]
    assert re.fullmatch(r"[0-9a-f-]{36}", done["vehicle_id"])
