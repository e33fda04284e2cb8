"""Run a Celery worker as a real process of its own, as its Kubernetes deployment would.

Used by the integration tests (which must see tasks cross a real broker into another process,
and survive that process being killed) and by local runs.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from monolith.platform.deployable_process import ROOT

# Celery logs "<hostname> ready." once the worker consumes, and shows its broker in the banner.
_READY = re.compile(r"\bready\.\s*$")
_TRANSPORT = re.compile(r"\.>\s*transport:\s+(?P<url>\S+)")


@dataclass
class WorkerHandle:
    """A running worker: its pid (a process group of its own), its output, its broker."""

    process: subprocess.Popen[str]
    hostname: str
    output: deque[str] = field(default_factory=lambda: deque(maxlen=400))
    transport: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def pid(self) -> int:
        """The main worker process; its pool processes share its process group."""
        return self.process.pid

    def log(self) -> str:
        return "\n".join(self.output)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as the OOM killer or a node
        loss would: nothing gets to acknowledge, reject or restore a message."""
        _signal_group(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, *, timeout: float = 30.0) -> None:
        """Warm shutdown (SIGTERM: finish running tasks), then SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        # Pool processes left behind by a killed main process go too.
        _signal_group(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _read_output(handle: WorkerHandle, stream: Iterator[str], echo: bool) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        handle.output.append(line)
        if echo:
            print(f"[worker {handle.pid}] {line}", file=sys.stderr, flush=True)  # noqa: T201
        match = _TRANSPORT.search(line)
        if match and handle.transport is None:
            handle.transport = match.group("url")
        if handle.hostname in line and _READY.search(line):
            handle.ready.set()


def start_worker(
    env: Mapping[str, str],
    *,
    queues: Sequence[str] = (),
    concurrency: int = 1,
    hostname: str | None = None,
    extra_args: Sequence[str] = (),
    echo: bool = False,
    ready_timeout: float = 60.0,
) -> WorkerHandle:
    """Start ``celery -A monolith.celery worker`` and return once it consumes from its queues.

    ``env`` is the worker's whole environment (``DATABASE_URL``, ``CELERY_BROKER_URL``, ...).
    Without ``queues`` it consumes the default queue. Raises ``RuntimeError`` with the worker's
    output if it exits or is not ready within ``ready_timeout`` seconds.
    """
    name = hostname or f"fleet-{os.getpid()}-{time.monotonic_ns()}@%h"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "monolith.celery",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--hostname={name}",
        *([f"--queues={','.join(queues)}"] if queues else []),
        *extra_args,
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A process group of its own, so the worker and its pool can be killed together.
        start_new_session=True,
    )
    handle = WorkerHandle(process=process, hostname=name.split("@", 1)[0])
    assert process.stdout is not None  # noqa: S101 - PIPE was asked for
    threading.Thread(target=_read_output, args=(handle, process.stdout, echo), daemon=True).start()
    deadline = time.monotonic() + ready_timeout
    while not handle.ready.wait(timeout=0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            reason = (
                f"exited with {process.returncode}"
                if process.returncode is not None
                else f"was not ready within {ready_timeout:.0f} s"
            )
            handle.stop(timeout=5)
            raise RuntimeError(f"the Celery worker {reason}:\n{handle.log()}")
    return handle


@contextmanager
def celery_worker(
    env: Mapping[str, str],
    *,
    queues: Sequence[str] = (),
    concurrency: int = 1,
    hostname: str | None = None,
    extra_args: Sequence[str] = (),
    echo: bool = False,
    ready_timeout: float = 60.0,
    stop_timeout: float = 30.0,
) -> Iterator[WorkerHandle]:
    """A Celery worker process for the block: started and ready on entry, stopped on exit."""
    handle = start_worker(
        env,
        queues=queues,
        concurrency=concurrency,
        hostname=hostname,
        extra_args=extra_args,
        echo=echo,
        ready_timeout=ready_timeout,
    )
    try:
        yield handle
    finally:
        handle.stop(timeout=stop_timeout)
