"""The edge's remembered DRF tokens, in this process, against an HTTP server on loopback.

The server stands in for the trips service: it answers every read 200 and keeps the headers it
got, so a test reads the internal token (account and roles) the edge sent. Each test has its
own Redis keys, and this process's credentials and routing copies start empty.
"""

import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.cohorts.propagation import routing_redis_forget
from monolith.cohorts.services import CohortChange, cohort_change
from monolith.cohorts.tests.routing_keys import private_routing_keys
from monolith.platform.access import Role
from monolith.platform.edge.credentials import (
    CredentialCache,
    credentials_version_announce,
    credentials_version_read,
)
from monolith.platform.interservice.client import deployables_forget
from monolith.platform.interservice.tokens import TOKEN_HEADER, internal_token_verify

NumQueries = Callable[[int], AbstractContextManager[list[Any]]]


class _Service(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        answer = b'{"count": 0, "next": null, "previous": null, "results": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        # No connection outlives an answer: once the server is shut down, nothing answers.
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


def _claims() -> tuple[uuid.UUID | None, tuple[str, ...]]:
    """The account and roles of the internal token the service got last."""
    token = _Service.seen[-1].get(TOKEN_HEADER)
    if token is None:
        return None, ()
    claims = internal_token_verify(token, audience="trips")
    return claims.account_id, claims.roles


@pytest.fixture(autouse=True)
def redis_keys() -> Iterator[None]:
    with private_routing_keys():
        yield


@pytest.fixture
def service() -> Iterator[http.server.ThreadingHTTPServer]:
    _Service.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        deployables_forget()


@pytest.fixture
def route_trips(
    service: http.server.ThreadingHTTPServer,
    make_user: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> Iterator[Callable[..., None]]:
    """Route trips to the service: ``route_trips(everyone=True)``, ``add_usernames=...``..."""
    mover = make_user("mover-edge", Role.MIGRATION_TEAM)

    def route(**change: Any) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            cohort_change(
                module="trips", change=CohortChange(**change), by=mover, reason="edge test"
            )

    url = f"http://127.0.0.1:{service.server_address[1]}"
    with override_settings(COHORT_ROUTED_MODULES=["trips"], FLEET_SERVICE_URLS={"trips": url}):
        yield route


def _get(client: APIClient) -> Any:
    return client.get("/api/v1/trips/")


@pytest.mark.django_db
def test_a_forwarded_request_with_a_remembered_token_makes_no_query(
    route_trips: Callable[..., None],
    rider: Any,
    other_rider: Any,
    client_for: Callable[[Any], APIClient],
    assert_num_queries_all_databases: NumQueries,
) -> None:
    route_trips(everyone=True)
    ann, bob = client_for(rider), client_for(other_rider)
    assert _get(bob)["X-Served-By"] == "service"  # loads routing

    with assert_num_queries_all_databases(2):  # the token with its user; the user's groups
        first = _get(ann)
    with assert_num_queries_all_databases(0):
        again = _get(ann)

    assert (first.status_code, first["X-Served-By"]) == (200, "service")
    assert (again.status_code, again["X-Served-By"]) == (200, "service")
    assert _claims() == (rider.id, (Role.RIDER.value,))


@pytest.mark.django_db
def test_a_cohort_decided_per_rider_takes_the_remembered_account_with_no_query(
    route_trips: Callable[..., None],
    rider: Any,
    other_rider: Any,
    client_for: Callable[[Any], APIClient],
    assert_num_queries_all_databases: NumQueries,
) -> None:
    route_trips(add_usernames=frozenset({rider.username}))
    ann = client_for(rider)
    assert _get(ann)["X-Served-By"] == "service"

    with assert_num_queries_all_databases(0):
        response = _get(ann)

    assert (response.status_code, response["X-Served-By"]) == (200, "service")
    assert _claims() == (rider.id, (Role.RIDER.value,))
    # Outside the cohort: the monolith serves, and its view authenticated the rider itself.
    response = _get(client_for(other_rider))
    assert (response.status_code, response["X-Served-By"]) == (200, "monolith")
    assert response.wsgi_request.user == other_rider


@pytest.mark.django_db
def test_each_token_forwards_its_own_account_and_roles(
    route_trips: Callable[..., None],
    rider: Any,
    other_rider: Any,
    staff: Any,
    client_for: Callable[[Any], APIClient],
) -> None:
    route_trips(everyone=True)
    clients = {user.id: client_for(user) for user in (rider, other_rider, staff)}

    for _ in range(2):  # read, then remembered
        for account_id, client in clients.items():
            assert _get(client)["X-Served-By"] == "service"
            assert _claims()[0] == account_id

    assert _claims() == (staff.id, (Role.FLEET_STAFF.value,))
    _get(clients[rider.id])
    assert _claims() == (rider.id, (Role.RIDER.value,))


@pytest.mark.django_db
def test_a_deleted_token_a_deactivated_user_or_changed_groups_take_effect_at_once(
    route_trips: Callable[..., None],
    rider: Any,
    other_rider: Any,
    client_for: Callable[[Any], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    route_trips(everyone=True)
    ann, bob = client_for(rider), client_for(other_rider)
    for client in (ann, bob, ann, bob):
        _get(client)

    with django_capture_on_commit_callbacks(execute=True):
        rider.groups.add(Group.objects.get(name=Role.FLEET_STAFF.value))
    _get(ann)
    assert _claims() == (rider.id, tuple(sorted((Role.RIDER.value, Role.FLEET_STAFF.value))))

    with django_capture_on_commit_callbacks(execute=True):
        Token.objects.filter(user=rider).delete()
    _get(ann)
    assert _claims() == (None, ())  # anonymous now: the service answers it as such

    other_rider.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        other_rider.save()
    _get(bob)
    assert _claims() == (None, ())


@pytest.mark.django_db
def test_a_change_that_rolls_back_is_not_announced(
    rider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = credentials_version_read()
    Token.objects.create(user=rider)

    with django_capture_on_commit_callbacks(execute=False) as pending:
        Token.objects.filter(user=rider).delete()

    assert len(pending) == 1  # would run on commit; the test's transaction never commits
    assert credentials_version_read() == before


@pytest.mark.django_db
def test_what_is_kept_is_announced_when_it_changes_and_nothing_else(
    rider: Any, other_rider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    riders = Group.objects.get(name=Role.RIDER.value)
    changes: list[tuple[str, Callable[[], Any], bool]] = [
        ("token created", lambda: Token.objects.create(user=rider), False),
        ("signed in", lambda: rider.save(update_fields=["last_login"]), False),
        ("deactivated", lambda: rider.save(), True),
        ("left a group", lambda: rider.groups.remove(riders), True),
        ("joined a group", lambda: riders.user_set.add(rider), True),
        ("groups cleared", lambda: rider.groups.clear(), True),
        ("members cleared", lambda: riders.user_set.clear(), True),
        ("group renamed", lambda: riders.save(), True),
        ("group deleted", lambda: Group.objects.create(name="short-lived").delete(), True),
        ("token deleted", lambda: Token.objects.filter(user=rider).delete(), True),
        # Nothing is remembered for a user without a token.
        ("tokenless saved", lambda: other_rider.save(), False),
        ("tokenless joined", lambda: other_rider.groups.add(riders), False),
        ("tokenless added", lambda: riders.user_set.add(other_rider), False),
    ]
    for name, change, announced in changes:
        before = credentials_version_read()
        with django_capture_on_commit_callbacks(execute=True):
            change()
        assert (credentials_version_read() != before) is announced, name


class _Clock:
    """A monotonic clock that moves only when told to (and by a microsecond per reading, as a
    real one would between two readings)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


ANN, BOB = uuid.uuid4(), uuid.uuid4()
RIDERS = frozenset({Role.RIDER.value})


@override_settings(COHORT_ROUTING_REFRESH_MS=250, FLEET_EDGE_AUTH_CACHE_SECONDS=30)
def test_a_change_announced_elsewhere_reaches_another_process_within_one_refresh() -> None:
    """Two caches stand for two processes sharing Redis: one forgets when the other changes."""
    clock = _Clock()
    here, there = CredentialCache(clock), CredentialCache(clock)
    for cache in (here, there):
        assert cache.lookup("ann-key") is None  # reads the version
        cache.remember("ann-key", ANN, RIDERS, read_at=clock())
    clock.now += 0.1
    assert there.lookup("ann-key") is not None

    credentials_version_announce()  # what the changing process does once committed
    here.forget()

    assert here.lookup("ann-key") is None
    clock.now += 0.1
    assert there.lookup("ann-key") is not None  # not checked again yet: within the refresh
    clock.now += 0.2
    assert there.lookup("ann-key") is None


@override_settings(COHORT_ROUTING_REFRESH_MS=250, FLEET_EDGE_AUTH_CACHE_SECONDS=30)
def test_an_entry_read_before_a_forget_is_not_kept() -> None:
    clock = _Clock()
    cache = CredentialCache(clock)
    cache.lookup("ann-key")
    read_at = clock()
    cache.forget()  # a change arrived while the token was being read

    cache.remember("ann-key", ANN, RIDERS, read_at=read_at)
    cache.remember("bob-key", BOB, RIDERS, read_at=clock())

    assert cache.lookup("ann-key") is None
    assert cache.lookup("bob-key") is not None


@override_settings(COHORT_ROUTING_REFRESH_MS=250, FLEET_EDGE_AUTH_CACHE_SECONDS=30)
def test_without_an_announcement_an_entry_lives_at_most_the_setting() -> None:
    """A change made behind the signals (SQL, QuerySet.update) is seen when the entry expires."""
    clock = _Clock()
    cache = CredentialCache(clock)
    cache.lookup("ann-key")
    cache.remember("ann-key", ANN, RIDERS, read_at=clock())

    clock.now += 29.9
    assert cache.lookup("ann-key") is not None
    clock.now += 0.1
    assert cache.lookup("ann-key") is None


@override_settings(COHORT_ROUTING_REFRESH_MS=250, COHORT_ROUTING_REDIS_URL="")
def test_without_redis_a_process_forgets_every_refresh() -> None:
    routing_redis_forget()
    clock = _Clock()
    cache = CredentialCache(clock)
    cache.lookup("ann-key")
    cache.remember("ann-key", ANN, RIDERS, read_at=clock())

    clock.now += 0.2
    assert cache.lookup("ann-key") is not None
    clock.now += 0.05
    assert cache.lookup("ann-key") is None


@override_settings(FLEET_EDGE_AUTH_CACHE_SECONDS=0)
def test_zero_keeps_nothing() -> None:
    cache = CredentialCache()
    cache.remember("ann-key", ANN, RIDERS, read_at=cache.clock())
    assert cache.lookup("ann-key") is None


@pytest.mark.django_db
@override_settings(FLEET_EDGE_AUTH_CACHE_SECONDS=0)
def test_with_the_cache_off_every_forwarded_request_reads_the_token(
    route_trips: Callable[..., None],
    rider: Any,
    client_for: Callable[[Any], APIClient],
    assert_num_queries_all_databases: NumQueries,
) -> None:
    route_trips(everyone=True)
    ann = client_for(rider)
    _get(ann)

    with assert_num_queries_all_databases(2):
        assert _get(ann)["X-Served-By"] == "service"


@pytest.mark.django_db
def test_a_read_falling_back_is_served_with_the_riders_own_account(
    route_trips: Callable[..., None],
    service: http.server.ThreadingHTTPServer,
    rider: Any,
    client_for: Callable[[Any], APIClient],
) -> None:
    route_trips(everyone=True)
    ann = client_for(rider)
    _get(ann)
    assert _get(ann)["X-Served-By"] == "service"  # remembered

    service.shutdown()
    service.server_close()
    response = _get(ann)

    assert (response.status_code, response["X-Served-By"]) == (200, "monolith")
    # The view authenticated the token itself: the saved user, not the edge's stand-in.
    assert response.wsgi_request.user == rider
    assert response.wsgi_request.user.username == rider.username


@pytest.mark.django_db
def test_a_rider_taken_out_of_the_cohort_is_served_here_with_their_own_account(
    route_trips: Callable[..., None],
    rider: Any,
    client_for: Callable[[Any], APIClient],
) -> None:
    route_trips(add_usernames=frozenset({rider.username}))
    ann = client_for(rider)
    _get(ann)
    assert _get(ann)["X-Served-By"] == "service"  # remembered

    route_trips(remove_usernames=frozenset({rider.username}))
    response = _get(ann)

    assert (response.status_code, response["X-Served-By"]) == (200, "monolith")
    assert response.wsgi_request.user.username == rider.username
