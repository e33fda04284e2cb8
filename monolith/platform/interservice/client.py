"""The HTTP client for calls to a module served by another deployable.

One connection pool and one circuit breaker per base URL, per process. Each call carries a
fresh token (audience: the module; the acting account; the request id) and ``X-Request-ID``.
Timeouts come from settings; reads (``@api_read``) are retried after a transport failure,
writes never. Whatever did not answer (refused connection, timeout, a 502/503/504 that is not
a module's own error, an open breaker) becomes ``ModuleUnavailable``, a ``ServiceUnavailable``
(503 with ``Retry-After``). A module's error comes back as the same class.
"""

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from prometheus_client import Counter, Histogram

from monolith.platform.errors import FleetError, ServiceUnavailable
from monolith.platform.interservice.acting import acting_account
from monolith.platform.interservice.breaker import CircuitBreaker, CircuitOpen
from monolith.platform.interservice.codec import Json, error_decode
from monolith.platform.interservice.tokens import TOKEN_HEADER, internal_token_issue
from monolith.platform.observability import REQUEST_ID_HEADER, request_id_var

logger = logging.getLogger("fleet.interservice")

INTERNAL_PATH = "/internal/v1/{module}/{function}"
FEED_PATH = "/internal/v1/feed/{module}"
# The audience of a feed token: reading a module's outbox is not calling its api.
FEED_AUDIENCE = "feed"
# Statuses a gateway or a stopped pod answers with: the call did not reach a module.
_UNREACHED = {502, 503, 504}

CALLS = Counter(
    "fleet_interservice_calls_total",
    "Calls to a module served by another deployable, by outcome: ok, error (the module's own "
    "error), unavailable, circuit_open, failed (refused or broken on the other side).",
    ["module", "function", "outcome"],
)
CALL_LATENCY = Histogram(
    "fleet_interservice_call_duration_seconds",
    "Time of a call to another deployable, retries included.",
    ["module", "function"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RETRIES = Counter(
    "fleet_interservice_retries_total", "Reads sent again after a failure.", ["module", "function"]
)
BREAKER_OPENED = Counter(
    "fleet_interservice_breaker_opened_total", "Circuit breakers opened, by module.", ["module"]
)


class ModuleUnavailable(ServiceUnavailable):
    """The deployable serving a module did not answer; nothing is known to have happened."""

    code = "module_unavailable"

    def __init__(self, message: str, *, retry_after: int, circuit_open: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.circuit_open = circuit_open


class RemoteCallFailed(RuntimeError):
    """The other deployable answered, but not with a result: it failed (500) or refused the
    call (a token it does not accept, a function it does not serve). Not retried."""


@dataclass
class Deployable:
    """What this process keeps per base URL: the pool and the breaker."""

    base_url: str
    pool: urllib3.HTTPConnectionPool
    breaker: CircuitBreaker
    path_prefix: str


_deployables: dict[str, Deployable] = {}
_deployables_lock = threading.Lock()


def deployable_for(base_url: str) -> Deployable:
    """The pool and breaker of ``base_url``, made on first use in this process."""
    found = _deployables.get(base_url)
    if found is not None:
        return found
    with _deployables_lock:
        found = _deployables.get(base_url)
        if found is None:
            timeout = urllib3.Timeout(
                connect=settings.FLEET_INTERSERVICE_CONNECT_TIMEOUT_MS / 1000,
                read=settings.FLEET_INTERSERVICE_READ_TIMEOUT_MS / 1000,
            )
            pool = urllib3.connection_from_url(
                base_url,
                maxsize=settings.FLEET_INTERSERVICE_POOL_SIZE,
                block=False,
                timeout=timeout,
                retries=False,
            )
            found = _deployables[base_url] = Deployable(
                base_url=base_url,
                pool=pool,
                breaker=CircuitBreaker(
                    failures=settings.FLEET_INTERSERVICE_BREAKER_FAILURES,
                    reset_seconds=settings.FLEET_INTERSERVICE_BREAKER_RESET_SECONDS,
                ),
                path_prefix=urlsplit(base_url).path.rstrip("/"),
            )
    return found


def deployables_forget() -> None:
    """Close every pool and forget every breaker (tests; settings changed)."""
    with _deployables_lock:
        for deployable in _deployables.values():
            deployable.pool.close()
        _deployables.clear()


def module_base_url(module: str) -> str:
    try:
        return str(settings.FLEET_MODULE_URLS[module])
    except KeyError:
        raise RemoteCallFailed(
            f"No base URL for the {module} module (FLEET_MODULE_URL_{module.upper()})."
        ) from None


def remote_call(
    module: str,
    function: str,
    arguments: dict[str, Json],
    *,
    read: bool,
    base_url: str | None = None,
) -> Json:
    """Call ``<module>.api.<function>`` where it is served; its JSON result, or raise.

    Raises the module's error as the callee raised it, ``ModuleUnavailable`` when the
    deployable did not answer (after the retries a read gets), ``RemoteCallFailed`` otherwise.
    """
    deployable = deployable_for(base_url or module_base_url(module))
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = _call(deployable, module, function, arguments, read=read)
        outcome = "ok"
        return result
    except ModuleUnavailable as unavailable:
        outcome = "circuit_open" if unavailable.circuit_open else "unavailable"
        raise
    except FleetError:
        outcome = "error"
        raise
    finally:
        CALLS.labels(module, function, outcome).inc()
        CALL_LATENCY.labels(module, function).observe(time.perf_counter() - started)


def _call(
    deployable: Deployable, module: str, function: str, arguments: dict[str, Json], *, read: bool
) -> Json:
    attempts = 1 + (max(0, settings.FLEET_INTERSERVICE_READ_RETRIES) if read else 0)
    body = json.dumps({"arguments": arguments}, separators=(",", ":")).encode()
    path = deployable.path_prefix + INTERNAL_PATH.format(module=module, function=function)
    failure = ""
    for attempt in range(attempts):
        if attempt:
            RETRIES.labels(module, function).inc()
            time.sleep(settings.FLEET_INTERSERVICE_RETRY_BACKOFF_MS / 1000 * 2 ** (attempt - 1))
        request_id = request_id_var.get()
        headers = {
            "Content-Type": "application/json",
            TOKEN_HEADER: internal_token_issue(
                audience=module, account_id=acting_account(), request_id=request_id
            ),
        }
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        _breaker_admit(deployable, module, function, failure)
        # From here every way out records an outcome, or a half-open breaker's trial would
        # never end.
        try:
            response = deployable.pool.urlopen(
                "POST", path, body=body, headers=headers, retries=False, redirect=False
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
            _failed(deployable, module)
            continue
        except BaseException:
            _failed(deployable, module)
            raise
        answer = _json(response.data)
        error = answer.get("error") if isinstance(answer, dict) else None
        if response.status == 200 and isinstance(answer, dict) and "result" in answer:
            deployable.breaker.record_success()
            return answer["result"]
        if isinstance(error, dict):
            # The module answered with its own error (a 503 of its own included).
            deployable.breaker.record_success()
            raise error_decode(module, error)
        if response.status in _UNREACHED:
            failure = f"HTTP {response.status}"
            _failed(deployable, module)
            continue
        deployable.breaker.record_success()
        detail = answer.get("detail") if isinstance(answer, dict) else None
        raise RemoteCallFailed(
            f"{module}.api.{function} at {deployable.base_url} answered {response.status}"
            + (f": {detail}" if detail else "")
        )
    raise _unavailable(
        deployable,
        module,
        function,
        f"no answer to {function} after {attempts} attempt{'s' if attempts > 1 else ''} "
        f"({failure})",
        retry_after=deployable.breaker.retry_after(),
    )


def remote_feed_read(
    base_url: str, module: str, *, after: int, limit: int, kinds: frozenset[str]
) -> dict[str, Any]:
    """One page of ``module``'s outbox feed at ``base_url`` (``outbox.feed``).

    Sent once: the reader reads again on its next pull. Raises ``ModuleUnavailable`` when the
    deployable does not answer, ``RemoteCallFailed`` when it answers with anything but a page.
    """
    deployable = deployable_for(base_url)
    _breaker_admit(deployable, module, "feed", "")
    path = deployable.path_prefix + FEED_PATH.format(module=module)
    query = f"?after={after}&limit={limit}&kinds={','.join(sorted(kinds))}"
    headers = {TOKEN_HEADER: internal_token_issue(audience=FEED_AUDIENCE)}
    try:
        response = deployable.pool.urlopen(
            "GET", path + query, headers=headers, retries=False, redirect=False
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    except BaseException:
        _failed(deployable, module)  # a half-open breaker's trial must end
        raise
    else:
        failure = f"HTTP {response.status}" if response.status in _UNREACHED else ""
    if failure:
        _failed(deployable, module)
        raise _unavailable(
            deployable, module, "feed", failure, retry_after=deployable.breaker.retry_after()
        )
    deployable.breaker.record_success()
    answer = _json(response.data)
    if response.status != 200 or not isinstance(answer, dict) or "until" not in answer:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        raise RemoteCallFailed(
            f"the {module} feed at {deployable.base_url} answered {response.status}"
            + (f": {detail}" if detail else "")
        )
    return answer


def _breaker_admit(deployable: Deployable, module: str, function: str, failure: str) -> None:
    """Let a call through the deployable's breaker, or raise ``ModuleUnavailable``."""
    try:
        deployable.breaker.before_call()
    except CircuitOpen as open_circuit:
        raise _unavailable(
            deployable,
            module,
            function,
            f"its circuit breaker is open after repeated failures ({failure or 'earlier'})",
            retry_after=open_circuit.retry_after,
            circuit_open=True,
        ) from None


def _failed(deployable: Deployable, module: str) -> None:
    if deployable.breaker.record_failure():
        BREAKER_OPENED.labels(module).inc()
        logger.warning(
            "circuit breaker for %s at %s opened",
            module,
            deployable.base_url,
            extra={"fleet_module": module, "base_url": deployable.base_url},
        )


def _unavailable(
    deployable: Deployable,
    module: str,
    function: str,
    why: str,
    *,
    retry_after: int,
    circuit_open: bool = False,
) -> ModuleUnavailable:
    logger.warning(
        "%s.api.%s at %s unavailable: %s",
        module,
        function,
        deployable.base_url,
        why,
        extra={"fleet_module": module, "function": function, "base_url": deployable.base_url},
    )
    return ModuleUnavailable(
        f"The {module} module at {deployable.base_url} is unavailable: {why}. Try again in "
        f"{retry_after} s.",
        retry_after=retry_after,
        circuit_open=circuit_open,
    )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
