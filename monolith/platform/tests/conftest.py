"""Fixtures the platform's integration tests share."""

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from monolith.celery import app
from monolith.platform.deployable_process import database_url
from monolith.platform.tests.test_worker_process import FAST_START, Broker
from monolith.platform.worker_process import WorkerHandle, celery_worker


@pytest.fixture
def worker() -> Iterator[WorkerHandle]:
    """A worker on the test database, consuming a queue of its own; retries without delay."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    broker = Broker(url=settings.CELERY_BROKER_URL, queue=queue, key_prefix="")
    env = {
        **broker.worker_env(),
        "CELERY_BROKER_KEY_PREFIX": "",
        "DATABASE_URL": database_url(connection.settings_dict),
        # Retries follow each other at once; five attempts still happen.
        "FLEET_TASK_MAX_DELAY_SECONDS": "0",
    }
    default_queue = app.conf.task_default_queue
    try:
        with celery_worker(env, queues=[queue], extra_args=FAST_START) as handle:
            app.conf.task_default_queue = queue
            yield handle
    finally:
        app.conf.task_default_queue = default_queue
        broker.remove_test_state()
