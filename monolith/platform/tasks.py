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

from monolith.platform.outbox import machinery


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
    """Hand ``module``'s committed, unrelayed events to one delivery task per subscriber."""
    return machinery.outbox_relay_run(module, send=machinery.delivery_send)


@shared_task(name="platform.outbox_sweep")
def outbox_sweep() -> int:
    """Relay every module's events the after-commit relay left behind (run by beat)."""
    return machinery.outbox_sweep_run(send=machinery.delivery_send)


@shared_task(name="platform.deliver", bind=True, max_retries=None)
def deliver(
    self: Task, module: str, event_id: str, subscriber: str, name: str, payload: dict[str, Any]
) -> bool:
    """Run ``subscriber``'s handler for one event of ``module``, at most once (its inbox).

    A failure is retried with doubling delays; after ``FLEET_EVENT_MAX_ATTEMPTS`` attempts the
    delivery is parked in the subscriber's database for staff to see and retry.
    """
    delivery: dict[str, Any] = {
        "publisher": module,
        "event_id": event_id,
        "subscriber": subscriber,
        "name": name,
        "payload": payload,
    }
    try:
        return machinery.event_deliver(**delivery)
    except Exception as exc:
        attempt = self.request.retries + 1
        if attempt >= machinery.delivery_max_attempts():
            # The failed transaction is over: the parked row commits on its own.
            machinery.delivery_park(**delivery, attempts=attempt, error=exc)
            return False
        raise self.retry(exc=exc, countdown=machinery.delivery_backoff_seconds(attempt)) from exc
