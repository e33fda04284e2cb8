"""The platform's own task: a ping that shows which worker process ran it.

The integration tests use it to prove a task crossed the broker into another process and
survived the loss of its worker; operators can send it to see a worker answer.
"""

import os
import tempfile
import time
from pathlib import Path

from celery import Task, shared_task


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
