"""Shadow reads: a read the monolith served, sent to the module's service as well, off the
request path, and the two answers compared.

On the request path (``shadow_read_submit``, from ``EdgeProxyMiddleware``) the read is only
captured: method, path and query, the request's headers, the account, the request id, the
monolith's status and body. It goes into a bounded queue served by a few threads of this
process (``COHORT_SHADOW_WORKERS``, ``COHORT_SHADOW_QUEUE_SIZE``); when the queue is full the
shadow is dropped and counted, never waited for. A thread sends the read the way the edge
forwards (``forwarding.service_read``: the same pool, breaker, timeouts, headers and signed
token), compares (``cohorts.shadow.answers_compare``), records a mismatch and counts the
outcome (``cohorts.traffic``). A thread closes the database connection it opened for a job
once the job is done. The caller's answer is never touched.

Sent as shadows: ``GET`` and ``HEAD`` only (never a write), answered 2xx or 4xx with JSON by
the monolith, no larger than ``COHORT_SHADOW_MAX_BODY_BYTES``.
"""

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connections
from django.http import HttpRequest, HttpResponseBase

from monolith.cohorts.config import routing_config
from monolith.cohorts.identity import account_of
from monolith.cohorts.shadow import answers_compare, content_type_is_json, shadow_mismatch_record
from monolith.cohorts.traffic import (
    ShadowFate,
    ShadowOutcome,
    shadow_count,
    traffic_flush_if_due,
)
from monolith.platform.access import user_roles
from monolith.platform.edge.forwarding import (
    Caller,
    ServiceUnreached,
    forwarded_headers,
    identity_headers,
    service_read,
)
from monolith.platform.observability import request_id_var

logger = logging.getLogger("fleet.edge")

SHADOW_METHODS = frozenset({"GET", "HEAD"})


def shadow_sampled(module: str) -> bool:
    """Whether this read of ``module`` is to be shadowed (``COHORT_SHADOW_SAMPLE_PERCENT``)."""
    percent = routing_config().shadow_sample_percent.get(module, 100.0)
    return percent >= 100 or random.random() * 100 < percent  # noqa: S311 - a sample, not a secret


@dataclass(frozen=True, slots=True)
class ShadowRead:
    """One read the monolith answered, as the shadow thread needs it."""

    module: str
    base_url: str
    method: str
    full_path: str
    route: str
    meta: dict[str, Any]
    scheme: str
    account_id: UUID | None
    # The account's roles are read in the shadow thread (the view has usually read them
    # already, and kept them on the user), so the request never waits for them.
    user: Any
    request_id: str | None
    monolith_status: int
    monolith_body: bytes


def shadow_read_submit(
    request: HttpRequest, response: HttpResponseBase, module: str, base_url: str
) -> None:
    """Queue the shadow of a read the monolith answered, if it can be compared. Never raises:
    whatever goes wrong here costs the shadow, not the caller's answer."""
    try:
        fate = _submit(request, response, module, base_url)
    except Exception:
        logger.exception("shadow read %s %s not queued", request.method, request.path)
        fate = ShadowFate.DROPPED
    if fate is not None:
        shadow_count(module, fate)


def _submit(
    request: HttpRequest, response: HttpResponseBase, module: str, base_url: str
) -> ShadowFate | None:
    status = response.status_code
    if not (200 <= status < 300 or 400 <= status < 500) or response.streaming:
        return None
    if not content_type_is_json(response.get("Content-Type", "")):
        return None
    body: bytes = response.content  # type: ignore[attr-defined]
    if len(body) > routing_config().shadow_max_body_bytes:
        return ShadowFate.SKIPPED
    user = getattr(request, "user", None)
    match = request.resolver_match
    read = ShadowRead(
        module=module,
        base_url=base_url,
        method=request.method or "GET",
        full_path=request.get_full_path(),
        route=match.route if match is not None else "",
        # The headers and the client's address; not the server's objects (its socket, input).
        meta={name: value for name, value in request.META.items() if isinstance(value, str)},
        scheme=request.scheme or "http",
        account_id=account_of(user),
        user=user,
        request_id=request_id_var.get(),
        monolith_status=status,
        monolith_body=b"" if request.method == "HEAD" else body,
    )
    return ShadowFate.QUEUED if shadow_runner().submit(read) else ShadowFate.DROPPED


def shadow_read_compare(read: ShadowRead) -> ShadowOutcome | ShadowFate:
    """Send the read to the service, compare its answer with the monolith's, record and
    count the outcome."""
    outcome: ShadowOutcome | ShadowFate = ShadowOutcome.ERROR
    try:
        outcome = _compare(read)
    except Exception:
        logger.exception("shadow read %s %s failed", read.method, read.full_path)
    shadow_count(read.module, outcome)
    traffic_flush_if_due()
    return outcome


def _compare(read: ShadowRead) -> ShadowOutcome | ShadowFate:
    caller = Caller(read.account_id, user_roles(read.user) if read.account_id else frozenset())
    headers = {
        **forwarded_headers(read.meta, read.scheme),
        **identity_headers(read.module, caller, read.request_id),
    }
    limit = routing_config().shadow_max_body_bytes
    try:
        answer = service_read(read.base_url, read.method, read.full_path, headers, limit=limit)
    except ServiceUnreached as unreached:
        logger.info(
            "shadow read %s %s: the %s service did not answer: %s",
            read.method,
            read.full_path,
            read.module,
            unreached.why,
            extra={"fleet_module": read.module, "request_id": read.request_id},
        )
        return ShadowOutcome.ERROR
    if answer.body is None:
        return ShadowFate.SKIPPED  # the service's answer is too large to compare
    difference = answers_compare(
        read.module,
        method=read.method,
        monolith_status=read.monolith_status,
        monolith_body=read.monolith_body,
        service_status=answer.status,
        service_content_type=answer.content_type,
        service_body=answer.body,
    )
    if difference is None:
        return ShadowOutcome.MATCH
    shadow_mismatch_record(
        module=read.module,
        method=read.method,
        path=read.full_path,
        route=read.route,
        account_id=read.account_id,
        monolith_status=read.monolith_status,
        service_status=answer.status,
        difference=difference,
        request_id=read.request_id,
    )
    return ShadowOutcome.MISMATCH


class ShadowRunner:
    """A few threads taking jobs from a bounded queue; ``submit`` never blocks."""

    def __init__(self, *, workers: int, capacity: int, job: Callable[[Any], object]) -> None:
        self._job = job
        self._workers = workers
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._unfinished = 0  # queued or running
        self._stopping = False

    def submit(self, item: Any) -> bool:
        """Queue ``item`` for a thread; False (nothing queued) when the queue is full."""
        if not self._threads:
            self._start()
        with self._lock:
            if self._stopping:
                return False
            self._unfinished += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._done()
            return False
        return True

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for number in range(self._workers):
                thread = threading.Thread(
                    target=self._work, name=f"fleet-shadow-{number}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._job(item)
            except Exception:
                logger.exception("a shadow job failed")
            finally:
                # A connection opened in this thread is never reused by a request: close it.
                connections.close_all()
                self._done()

    def _done(self) -> None:
        with self._lock:
            self._unfinished -= 1
            if not self._unfinished:
                self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every queued job is done (tests, benchmarks); False if time ran out."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then end the threads."""
        with self._lock:
            self._stopping = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)


_runner: ShadowRunner | None = None
_runner_pid = 0
_runner_lock = threading.Lock()


def shadow_runner() -> ShadowRunner:
    """This process's runner (a forked process makes its own: threads do not survive a fork)."""
    global _runner, _runner_pid
    runner = _runner
    if runner is not None and _runner_pid == os.getpid():
        return runner
    with _runner_lock:
        if _runner is None or _runner_pid != os.getpid():
            from django.conf import settings

            _runner = ShadowRunner(
                workers=settings.COHORT_SHADOW_WORKERS,
                capacity=settings.COHORT_SHADOW_QUEUE_SIZE,
                job=shadow_read_compare,
            )
            _runner_pid = os.getpid()
        return _runner


def shadow_drain(timeout: float = 30.0) -> bool:
    """Wait until this process's queued shadow reads are compared (tests, benchmarks)."""
    runner = _runner
    return runner is None or runner.drain(timeout)


def shadow_runner_stop() -> None:
    """Finish this process's queued shadow reads and end its threads (tests)."""
    global _runner
    with _runner_lock:
        runner, _runner = _runner, None
    if runner is not None:
        runner.stop()
