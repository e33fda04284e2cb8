"""Celery: the broker comes from the environment; nothing runs eagerly.

Why each value is what it is: docs/decisions/0007-celery-reliability-defaults.md.
"""

from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.environment import env_int, env_list, env_str

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# No result backend: a caller that needs an outcome reads it from the database.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"

# A task is acknowledged only once it has finished, and one whose worker process dies (SIGKILL,
# the OOM killer) is handed back to the broker rather than dropped. Tasks must be idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task that raised or hit its time limit is acknowledged: retrying is the task's explicit
# decision (self.retry), never an endless redelivery of a poison message.
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
# Tasks are short: a worker reserves one message per process, so a slow task never holds others
# back and a lost worker takes at most one unacknowledged message per process with it.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With late acks, a message whose connection was lost is redelivered: stop the running copy
# rather than let it race the redelivered one.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# The longest a task may run (hard limit kills the pool process; the soft limit raises
# SoftTimeLimitExceeded first so the task can clean up).
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - max(1, CELERY_TASK_TIME_LIMIT // 5))
# The longest countdown, ETA or retry delay the platform's tasks may use. Under RabbitMQ a
# delayed message is held unacknowledged by the worker, so this must stay below the broker's
# consumer_timeout (30 minutes by default).
FLEET_TASK_MAX_DELAY_SECONDS = env_int("FLEET_TASK_MAX_DELAY_SECONDS", 600)

# Redis (and SQS) hand an unacknowledged message to another worker after the visibility
# timeout: it must exceed both the longest delay and the longest run, or the task runs twice.
_LONGEST_HOLD = max(FLEET_TASK_MAX_DELAY_SECONDS, CELERY_TASK_TIME_LIMIT)
FLEET_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", _LONGEST_HOLD + 300)
if FLEET_BROKER_VISIBILITY_TIMEOUT <= _LONGEST_HOLD:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_VISIBILITY_TIMEOUT={FLEET_BROKER_VISIBILITY_TIMEOUT} must exceed the "
        f"longest task delay ({FLEET_TASK_MAX_DELAY_SECONDS} s) and time limit "
        f"({CELERY_TASK_TIME_LIMIT} s), or delayed and long tasks are delivered twice."
    )
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": FLEET_BROKER_VISIBILITY_TIMEOUT,
    # Look for abandoned messages a tenth of the timeout apart, so one whose worker died is
    # back within about 1.1 x the visibility timeout (kombu's default sweep is every 100 s).
    "unacked_restore_interval": max(1, min(60, FLEET_BROKER_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
}
# Publishing must fail fast when the broker is down or unreachable. The outbox makes a failed
# publish harmless (the row stays and the periodic sweep relays it), but the publish runs on the
# request path, after the commit: Celery's default retry policy spends 0.6 s on every message
# (three retries 0.2 s apart), Redis waits on the operating system's TCP timeout (minutes) for a
# host that does not answer, and on a connection that stopped answering it waits forever.
# One immediate reconnect is kept: a pooled connection the broker closed (a restart) is
# replaced at once. Measured with the broker stopped: about 3 ms per publish instead of 600 ms.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
FLEET_BROKER_CONNECT_TIMEOUT = env_int("CELERY_BROKER_CONNECT_TIMEOUT", 2)
FLEET_BROKER_SOCKET_TIMEOUT = env_int("CELERY_BROKER_SOCKET_TIMEOUT", 5)
if FLEET_BROKER_SOCKET_TIMEOUT < 2:
    # Redis consumers block for a second on each empty poll (kombu's brpop_timeout).
    raise ImproperlyConfigured(
        f"CELERY_BROKER_SOCKET_TIMEOUT={FLEET_BROKER_SOCKET_TIMEOUT} must be at least 2 s: a "
        "worker's poll of an empty Redis queue waits 1 s for an answer."
    )
# AMQP: connecting and the handshake.
CELERY_BROKER_CONNECTION_TIMEOUT = FLEET_BROKER_CONNECT_TIMEOUT
# Redis: connecting, and every command's answer (the AMQP transport ignores these two).
CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = FLEET_BROKER_CONNECT_TIMEOUT
CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] = FLEET_BROKER_SOCKET_TIMEOUT
# Several environments (or test runs) may share one Redis: a prefix keeps their queues and
# unacknowledged-message bookkeeping apart. The AMQP transport ignores it (use a vhost).
_KEY_PREFIX = env_str("CELERY_BROKER_KEY_PREFIX", "")
if _KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _KEY_PREFIX

# Queues: every task is named "<module>.<action>" and goes to "fleet" unless its module is
# listed in CELERY_MODULE_QUEUES, whose tasks go to "fleet.<module>" for workers of their own.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "fleet")
CELERY_TASK_ROUTES = {
    f"{module}.*": {"queue": f"fleet.{module}"} for module in env_list("CELERY_MODULE_QUEUES", [])
}

# The beat schedule: each settings file declares its own entries (CELERY_BEAT_<CONCERN>), and
# base.py assembles them into CELERY_BEAT_SCHEDULE with beat_schedule(), once every file is
# imported. Run `celery -A monolith.celery beat` once per deployable (docs/extraction.md).
#
# The outbox sweep relays events whose after-commit relay was lost (broker down, process
# killed).
CELERY_BEAT_PLATFORM = {
    "platform.outbox_sweep": {"task": "platform.outbox_sweep", "schedule": 10.0},
}


def beat_schedule(
    *declared: Mapping[str, Mapping[str, Any]], served_elsewhere: Collection[str] = ()
) -> dict[str, dict[str, Any]]:
    """``CELERY_BEAT_SCHEDULE``: the entries every settings file declares, each name once, less
    the tasks of the fleet modules ``served_elsewhere``.

    A task is named ``<module>.<action>``. A deployable that does not serve a module has none
    of its tables, so beat must not send it that module's tasks: the deployable that serves
    the module runs them against its own database.
    """
    schedule: dict[str, dict[str, Any]] = {}
    for entries in declared:
        for name, entry in entries.items():
            if name in schedule:
                raise ImproperlyConfigured(
                    f"The beat entry {name!r} is declared twice: give each entry one name."
                )
            if entry["task"].split(".", 1)[0] not in served_elsewhere:
                schedule[name] = dict(entry)
    return schedule
