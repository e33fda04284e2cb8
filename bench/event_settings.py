"""Settings for ``bench.event_throughput``: the project's, plus the measurement-only module.

Both the benchmark's publishing process and its Celery worker run with these, so both know
the benchmark's event, outbox and inbox. Two switches measure what a cost is worth:

- ``BENCH_TASK_LOGS=off`` silences Celery's two INFO lines per task ("received",
  "succeeded");
- ``BENCH_REDIS_CLIENT=reuse`` makes kombu's Redis channel keep one client object for its
  commands instead of building one per command (publishing a message, and recording and
  acknowledging every message a worker takes): building one costs about 0.05 ms of CPU,
  redis-py copies its table of reply parsers each time. Measurement only: it patches kombu.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from monolith.settings.base import *  # noqa: F403
from monolith.settings.base import FLEET_MODULES, INSTALLED_APPS, LOGGING

FLEET_MODULES = [*FLEET_MODULES, "bench.event_module"]
INSTALLED_APPS = [*INSTALLED_APPS, "bench.event_module"]


def _redis_client_reused() -> None:
    from kombu.transport import redis as kombu_redis

    # The stubs know neither the private method nor patching a class.
    channel: Any = kombu_redis.Channel
    disconnect = channel._disconnect_pools

    @contextmanager
    def conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        if "_bench_client" not in self.__dict__:
            self.__dict__["_bench_client"] = self._create_client()
        yield self.__dict__["_bench_client"]

    def disconnect_pools(self: Any) -> None:
        # The client belongs to the pool being dropped.
        self.__dict__.pop("_bench_client", None)
        disconnect(self)

    channel.conn_or_acquire = conn_or_acquire
    channel._disconnect_pools = disconnect_pools


if os.environ.get("BENCH_TASK_LOGS") == "off":
    LOGGING["loggers"].update(
        {name: {"level": "WARNING"} for name in ("celery.app.trace", "celery.worker.strategy")}
    )

if os.environ.get("BENCH_REDIS_CLIENT") == "reuse":
    _redis_client_reused()
