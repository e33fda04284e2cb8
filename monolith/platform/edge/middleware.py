"""The edge's hook: after cohort routing decided ``service``, forward; when down, fall back.

Runs in ``process_view``, after ``CohortRoutingMiddleware``'s (which took the decision, once,
with the view's own authenticators): so a request routed to the monolith costs one dictionary
look-up here, and a module without ``FLEET_SERVICE_URL_<LABEL>`` is never forwarded.

In shadow mode (the decision says ``shadow``), a read the monolith serves is marked here and,
once answered, handed to the shadow runner (``shadow``), which sends it to the service off the
request path and compares the two answers; the caller's answer is returned as the view made it.

While the service does not answer (refused, timed out, breaker open, a gateway's 502/503/504):
- a read (GET, HEAD, OPTIONS) is served by the view here, ``X-Served-By: monolith``, counted
  as ``fallback``;
- a write is answered 503 with ``Retry-After`` and is not sent again: either it never reached
  the service (nothing applied anywhere), or its answer was lost after sending, which the 503
  says (the client repeats it; bookings and cancels are idempotent on the service's side).
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from prometheus_client import Counter, Histogram
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from monolith.cohorts.identity import request_account_id
from monolith.cohorts.routing import route_for_request
from monolith.cohorts.rules import Side
from monolith.platform.access import user_roles
from monolith.platform.edge.forwarding import Caller, ServiceUnreached, service_forward
from monolith.platform.edge.shadow import SHADOW_METHODS, shadow_read_submit, shadow_sampled

logger = logging.getLogger("fleet.edge")

SERVED_BY_HEADER = "X-Served-By"
_SHADOW = "_edge_shadow"  # (module, service base URL) of a read to shadow
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

EDGE_REQUESTS = Counter(
    "fleet_edge_requests_total",
    "Requests to a module with a service, by module and who answered: service (forwarded), "
    "monolith (routed here), fallback (a read served here, the service down), unavailable "
    "(a write refused with 503, the service down).",
    ["module", "side"],
)
PROXY_LATENCY = Histogram(
    "fleet_edge_proxy_duration_seconds",
    "Time from forwarding a request to the service's answer headers (its whole body when not "
    "streamed), by module.",
    ["module"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def _caller(request: HttpRequest, view_func: Callable[..., Any]) -> Caller:
    """Who the request acts for, as the view would authenticate it (reusing the decision's
    authentication; a session must also pass the CSRF check the view would make)."""
    account_id = request_account_id(request, view_func)
    if account_id is None:
        return Caller(None, frozenset())
    user = getattr(request, "_force_auth_user", None)
    if user is None:
        user = request.user
        if request.method not in READ_METHODS:
            SessionAuthentication().enforce_csrf(Request(request))
    return Caller(account_id, user_roles(user))


class EdgeProxyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        shadow: tuple[str, str] | None = getattr(request, _SHADOW, None)
        if shadow is not None:
            shadow_read_submit(request, response, *shadow)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        module: str | None = getattr(request, "_cohort_module", None)
        if module is None:
            return None
        base_url = settings.FLEET_SERVICE_URLS.get(module)
        if base_url is None:
            return None
        decision = route_for_request(request, module, view_func=view_func)
        if decision.side != Side.SERVICE:
            EDGE_REQUESTS.labels(module, Side.MONOLITH.value).inc()
            if decision.shadow and request.method in SHADOW_METHODS and shadow_sampled(module):
                # Its answer, once the view has made it, is also compared with the service's.
                setattr(request, _SHADOW, (module, base_url))
            return None
        read = request.method in READ_METHODS
        try:
            caller = _caller(request, view_func)
        except PermissionDenied as denied:
            return JsonResponse({"detail": str(denied.detail), "code": "forbidden"}, status=403)
        started = time.perf_counter()
        try:
            response = service_forward(request, module, base_url, caller, read=read)
        except ServiceUnreached as unreached:
            logger.warning(
                "%s service at %s did not answer %s %s: %s",
                module,
                base_url,
                request.method,
                request.path,
                unreached.why,
                extra={"fleet_module": module, "base_url": base_url, "sent": unreached.sent},
            )
            if read:
                EDGE_REQUESTS.labels(module, "fallback").inc()
                return None  # the view answers here; X-Served-By says monolith
            EDGE_REQUESTS.labels(module, "unavailable").inc()
            return _unavailable(module, unreached)
        PROXY_LATENCY.labels(module).observe(time.perf_counter() - started)
        EDGE_REQUESTS.labels(module, Side.SERVICE.value).inc()
        response[SERVED_BY_HEADER] = Side.SERVICE.value
        return response


def _unavailable(module: str, unreached: ServiceUnreached) -> JsonResponse:
    if unreached.sent:
        detail = (
            f"The {module} service stopped answering after the request was sent: whether it "
            f"was applied is unknown. Repeat it in {unreached.retry_after} s."
        )
    else:
        detail = (
            f"The {module} service is unavailable ({unreached.why}); nothing was applied. "
            f"Try again in {unreached.retry_after} s."
        )
    response = JsonResponse({"detail": detail, "code": "module_unavailable"}, status=503)
    response["Retry-After"] = str(unreached.retry_after)
    return response
