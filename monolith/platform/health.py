"""Liveness, readiness and Prometheus metrics, as Kubernetes probes and scrapers expect them."""

import os

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

READINESS_TIMEOUT_SECONDS = 2


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Touches nothing else, so a slow database never restarts pods."""
    return JsonResponse({"status": "ok"})


def _database_problem() -> str | None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"database unreachable: {exc.__class__.__name__}"
    return None


def _broker_problem() -> str | None:
    url = settings.CELERY_BROKER_URL
    if not url:
        return "broker not configured: set CELERY_BROKER_URL"
    try:
        with Connection(url, connect_timeout=READINESS_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, timeout=READINESS_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"broker unreachable: {exc.__class__.__name__}"
    return None


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready: the database and the broker answer; otherwise 503 and what is wrong."""
    checks = {"database": _database_problem(), "broker": _broker_problem()}
    problems = {name: problem for name, problem in checks.items() if problem}
    if problems:
        response = JsonResponse({"status": "unavailable", "problems": problems}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"status": "ready", "checks": dict.fromkeys(checks, "ok")})


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; aggregates gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return HttpResponse(payload, content_type=CONTENT_TYPE_LATEST)
