"""Fixtures shared by every module's tests: people in each role and API clients for them."""

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monolith.platform.access import Role


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the peel-ability check a module's tables live on their own alias: let every
    database test reach every alias, as the module's code will."""
    from django.conf import settings

    if not getattr(settings, "FLEET_MODULE_DATABASES", None):
        return
    for item in items:
        marker = item.get_closest_marker("django_db")
        uses_db = {"db", "transactional_db"} & set(getattr(item, "fixturenames", ()))
        if marker is None and not uses_db:
            continue
        kwargs = dict(marker.kwargs) if marker else {}
        if marker and marker.args:
            kwargs.setdefault("transaction", marker.args[0])
        kwargs["databases"] = "__all__"
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


@pytest.fixture(autouse=True)
def _sql_guard_violations_fail() -> Iterator[None]:
    """Fail a test that ran SQL on another module's table, even if it caught the guard's error.

    A test that means to provoke the refusal takes the record itself
    (``sql_guard_violations_take()``).
    """
    from monolith.platform.boundaries.sql_guard import sql_guard_violations_take

    sql_guard_violations_take()
    yield
    left = sql_guard_violations_take()
    if left:
        lines = "\n".join(str(violation) for violation in left)
        pytest.fail(f"the SQL guard refused statements during this test:\n{lines}", pytrace=False)


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    """Create an account with the given roles: ``make_user("ann", Role.RIDER)``."""
    from django.contrib.auth import get_user_model

    def make(username: str, *roles: Role, **fields: Any) -> Any:
        user = get_user_model().objects.create_user(
            username=username, password="pw-" + username, email=f"{username}@example.com", **fields
        )
        for role in roles:
            group, _ = Group.objects.get_or_create(name=role.value)
            user.groups.add(group)
        return user

    return make


@pytest.fixture
def rider(make_user: Callable[..., Any]) -> Any:
    return make_user("rider-ann", Role.RIDER)


@pytest.fixture
def other_rider(make_user: Callable[..., Any]) -> Any:
    return make_user("rider-bob", Role.RIDER)


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> Any:
    return make_user("staff-sam", Role.FLEET_STAFF, is_staff=True)


@pytest.fixture
def migration_member(make_user: Callable[..., Any]) -> Any:
    return make_user("migration-mia", Role.MIGRATION_TEAM)


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    """An API client authenticated with the user's token, as a REST client would be."""

    def make(user: Any | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Start every call at the same moment, each in its own thread and database connection.

    Returns each call's result, or the exception it raised, in order. Tests that race real
    transactions need ``django_db(transaction=True)`` so the threads see committed rows.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            # Every alias: a peeled module's thread opens its own database's connection too.
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.fixture(name="run_together")
def run_together_fixture() -> Callable[..., list[Any]]:
    """The ``run_together`` helper, for tests that race concurrent writers."""
    return run_together


@pytest.fixture
def assert_num_queries_all_databases() -> Callable[[int], AbstractContextManager[list[Any]]]:
    """``django_assert_num_queries`` over every database alias, not only ``default``.

    Peeled, a module's queries run on its own alias and sign-in's on ``default``; the total is
    the same either way. Yields the captured queries (filled when the block ends).
    """

    @contextmanager
    def check(expected: int) -> Iterator[list[Any]]:
        captured: list[Any] = []
        with ExitStack() as stack:
            contexts = [
                stack.enter_context(CaptureQueriesContext(connections[alias]))
                for alias in connections
            ]
            yield captured
        for context in contexts:
            captured.extend(context.captured_queries)
        assert len(captured) == expected, "\n".join(query["sql"] for query in captured)

    return check


@pytest.fixture
def deliver_events(db: Any) -> Callable[..., int]:
    """Relay and deliver the events waiting in the outboxes, now, in this process.

    Call it after the action whose subscribers' effects a test asserts on: it runs the same
    relay and delivery functions the worker's tasks run (no eager mode). Returns how many
    deliveries had an effect.
    """
    from monolith.platform.outbox.machinery import outbox_deliver_pending

    return outbox_deliver_pending
