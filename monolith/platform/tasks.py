"""The platform's tasks: the outbox relay, sweep and deliveries, and a ping.

The ping shows which worker process ran it: the integration tests use it to prove a task
crossed the broker into another process and survived the loss of its worker; operators can
send it to see a worker answer.
"""

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import Task, shared_task
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from monolith.platform.outbox import machinery, order, pruning


def _database_connections_tidy(**kwargs: Any) -> None:
    """Around every task, what Django does around every request: close the connections past
    ``CONN_MAX_AGE`` or left unusable by an error, and keep the others (``CELERY_DB_REUSE_MAX``
    stops Celery's Django fixup from closing them all, every task)."""
    close_old_connections()


task_prerun.connect(_database_connections_tidy, dispatch_uid="platform-db-connections-before")
task_postrun.connect(_database_connections_tidy, dispatch_uid="platform-db-connections-after")


@shared_task(name="platform.ping", bind=True)
def ping(self: Task, marker_path: str | None = None, sleep_seconds: float = 0.0) -> int:
    """Return the worker process's pid; with ``marker_path``, note each attempt there.

    Each run appends ``start <pid> <redelivered>`` before sleeping ``sleep_seconds`` and
    ``done <pid>`` after, so a reader sees how many times the message was delivered and which
    run finished. Appending is idempotent enough for a probe: a repeated run adds lines.
    """
    pid = os.getpid()
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    marker = Path(marker_path).resolve() if marker_path else None
    # Whoever can reach the broker can send this; it may only write in the temporary folder.
    if marker is not None and not marker.is_relative_to(Path(tempfile.gettempdir()).resolve()):
        raise ValueError(f"platform.ping writes markers only under {tempfile.gettempdir()}")
    sleep_seconds = min(max(float(sleep_seconds), 0.0), 60.0)
    if marker is not None:
        with marker.open("a") as out:
            out.write(f"start {pid} {redelivered}\n")
    if sleep_seconds:
        time.sleep(sleep_seconds)
    if marker is not None:
        with marker.open("a") as out:
            out.write(f"done {pid}\n")
    return pid


# --- the outbox (decision 0006): relay, sweep, one delivery task per (event, subscriber) ----


@shared_task(name="platform.outbox_relay")
def outbox_relay(module: str) -> int:
    """Hand ``module``'s committed, unrelayed events to one delivery task per subscriber,
    batch after batch until none is left (a long backlog continues in a fresh task)."""
    with machinery.delivery_sender() as send:
        relayed, more = machinery.outbox_relay_drain(module, send=send)
    if more:
        outbox_relay.delay(module)
    return relayed


@shared_task(name="platform.outbox_sweep")
def outbox_sweep() -> int:
    """Relay every module's events the after-commit relay left behind (run by beat)."""
    with machinery.delivery_sender() as send:
        drained = machinery.outbox_sweep_run(send=send)
    for module, more in drained.items():
        if more:
            outbox_relay.delay(module)
    return len(drained)


@shared_task(name="platform.events_pull")
def events_pull() -> int:
    """Read the other deployables' outbox feeds (run by beat); events taken in and row changes
    applied. A feed that does not answer is read on the next run."""
    from monolith.platform.outbox.feed import feeds_pull

    return sum(pulled.received + pulled.applied for pulled in feeds_pull())


@shared_task(name="platform.events_prune")
def events_prune() -> int:
    """Delete relayed outbox rows and inbox rows past their retention (run daily by beat)."""
    return sum(table.deleted for table in pruning.events_prune())


class DeliveryTask(Task):
    """``platform.deliver``, sent with a short summary of its arguments.

    Celery writes ``repr`` of a task's arguments into every message (for logs and monitoring),
    through a careful repr that cost a quarter of the CPU a relay spends sending a delivery.
    The summary names the delivery (publisher, event id, subscriber, event name) and leaves
    out the payload, which monitoring has no business showing.
    """

    def apply_async(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        *more: Any,
        **options: Any,
    ) -> Any:
        if args is not None:
            options.setdefault("argsrepr", repr(tuple(args[:4])))
            options.setdefault("kwargsrepr", repr(sorted(kwargs or {})))
        return super().apply_async(args, kwargs, *more, **options)


@shared_task(name="platform.deliver", bind=True, max_retries=None, base=DeliveryTask)
def deliver(
    self: Task,
    module: str,
    event_id: str,
    subscriber: str,
    name: str,
    payload: dict[str, Any],
    after: order.After | None = None,
    waiting_since: float | None = None,
) -> bool:
    """Run ``subscriber``'s handler for one event of ``module``, at most once (its inbox).

    ``after`` is the aggregate's previous event for this subscriber: until the subscriber has
    processed it, the delivery waits (sent again with a short countdown, not counted as an
    attempt) and is parked once it has waited ``FLEET_EVENT_ORDER_MAX_WAIT_SECONDS`` or its
    predecessor is parked. ``waiting_since`` is when the waiting began (epoch seconds).
    Messages from before order per aggregate carry neither and are delivered as they were.

    A failure is retried with doubling delays; after ``FLEET_EVENT_MAX_ATTEMPTS`` attempts the
    delivery is parked in the subscriber's database for staff to see and retry.
    """
    delivery: dict[str, Any] = {
        "publisher": module,
        "event_id": event_id,
        "subscriber": subscriber,
        "name": name,
        "payload": payload,
        "after": after,
    }
    try:
        return machinery.event_deliver(**delivery)
    except order.DeliveryWaits as waits:
        since = waiting_since if waiting_since is not None else time.time()
        countdown = machinery.delivery_wait(waits, waiting_since=since)
        if countdown is None:
            machinery.delivery_park(**delivery, attempts=self.request.retries + 1, error=waits)
            return False
        # A fresh message rather than self.retry(): waiting is not a failed attempt, so the
        # attempts counted so far (retries) go along unchanged.
        self.apply_async(
            (module, event_id, subscriber, name, payload),
            {"after": after, "waiting_since": since},
            countdown=countdown,
            # Celery hands execution options on to the message (the stubs lack this one).
            retries=self.request.retries,  # type: ignore[call-arg]
        )
        return False
    except Exception as exc:
        attempt = self.request.retries + 1
        if attempt >= machinery.delivery_max_attempts():
            # The failed transaction is over: the parked row commits on its own.
            machinery.delivery_park(**delivery, attempts=attempt, error=exc)
            return False
        raise self.retry(exc=exc, countdown=machinery.delivery_backoff_seconds(attempt)) from exc
