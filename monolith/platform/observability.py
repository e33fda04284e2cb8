"""Request ids, JSON log lines and Prometheus request metrics.

Every request gets an ``X-Request-ID`` (the caller's, when it is sane, else a new one); it is
returned in the response and stamped on every log line written while the request runs.
"""

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

REQUESTS = Counter(
    "fleet_http_requests_total",
    "HTTP requests answered, by module, method and status.",
    ["module", "method", "status"],
)
LATENCY = Histogram(
    "fleet_http_request_duration_seconds",
    "Time to answer an HTTP request, by module.",
    ["module", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

access_log = logging.getLogger("fleet.access")


def module_of_path(path: str) -> str:
    """The module a path belongs to: ``/api/v1/trips/...`` is ``trips``; other paths by area."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "api" and parts[1] == "v1":
        return parts[2]
    if parts and parts[0] in {"admin", "api", "healthz", "readyz", "metrics", "static"}:
        return parts[0]
    return "other"


class RequestObservabilityMiddleware:
    """Outermost middleware: request id in and out, one access log line, request metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Cleared on request_finished, not here: Django logs 4xx/5xx answers after the
        # middleware chain has returned, and those lines must carry the id too.
        request_id_var.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        elapsed = time.perf_counter() - started
        module = module_of_path(request.path)
        if module != "metrics":
            REQUESTS.labels(module, request.method, str(response.status_code)).inc()
            LATENCY.labels(module, request.method).observe(elapsed)
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "fleet_module": module,
            },
        )
        return response


@receiver(request_finished, dispatch_uid="fleet-request-id-clear")
def _request_id_clear(**_: object) -> None:
    request_id_var.set(None)


class RequestIdLogFilter(logging.Filter):
    """Stamps the current request id (or None outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
