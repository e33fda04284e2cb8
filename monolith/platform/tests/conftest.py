"""Fixtures the platform's integration tests share.

A test module outside this folder uses the worker fixtures by naming them in its own namespace
(``worker = conftest.worker``, likewise ``worker_start``), and ``worker_env`` too unless it
defines its own.
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection

from monolith.platform.deployable_process import database_url
from monolith.platform.tests.broker_support import publishing_to
from monolith.platform.tests.test_worker_process import FAST_START, Broker
from monolith.platform.worker_process import WorkerHandle, celery_worker

WorkerStart = Callable[[], AbstractContextManager[WorkerHandle]]


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Settings the workers get on top of the fixture's own; a test module overrides this
    fixture to change some (a short lease, say)."""
    return {}


@pytest.fixture
def worker_start(worker_env: dict[str, str]) -> Iterator[WorkerStart]:
    """Start workers on the test database and settings, consuming a queue of the test's own;
    retries without delay. What this process publishes goes to that queue.

    On Redis the queue lives under a key prefix of the test's own too; every key under it
    (the queue, its bindings, unacknowledged messages a killed worker held) is removed at
    the end, so a shared Redis keeps nothing of the test's.
    """
    name = f"test-{uuid.uuid4().hex[:12]}"
    broker = Broker(url=settings.CELERY_BROKER_URL, queue=name, key_prefix=f"{name}:")
    env = broker.worker_env(
        **{
            # A peeled module's tests run under settings of their own; the worker does too.
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            "DATABASE_URL": database_url(connection.settings_dict),
            # Retries follow each other at once; five attempts still happen.
            "FLEET_TASK_MAX_DELAY_SECONDS": "0",
            **worker_env,
        }
    )

    @contextmanager
    def start() -> Iterator[WorkerHandle]:
        with celery_worker(env, queues=[broker.queue], extra_args=FAST_START) as handle:
            yield handle

    try:
        with publishing_to(
            broker.url, queue=broker.queue, transport_options=broker.transport_options()
        ):
            yield start
    finally:
        broker.remove_test_state()
    if broker.is_redis:
        with Connection(broker.url) as redis:
            client = cast(Any, redis.default_channel).client
            left = sorted(key.decode() for key in client.scan_iter(match=f"*{name}*"))
        assert not left, f"the test's worker left keys on the broker: {left}"


@pytest.fixture
def worker(worker_start: WorkerStart) -> Iterator[WorkerHandle]:
    """A worker from ``worker_start``, running for the whole test."""
    with worker_start() as handle:
        yield handle
