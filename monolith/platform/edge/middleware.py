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

A DRF token this process remembers (``credentials``) authenticates a request to a module with
a service before any ``process_view`` runs, with no query: the routing decision takes its
account as DRF's forced user, and the forward its role names. When the monolith serves the
request after all (routed here, a read falling back, a view that would not take the token
first), that is withdrawn and the view authenticates the token itself, as without the cache.
A token read from the database for a forwarded request is remembered for the next one.
"""

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from prometheus_client import Counter, Histogram
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from monolith.cohorts.identity import request_account_id
from monolith.cohorts.routing import module_routed, route_for_request
from monolith.cohorts.rules import Side
from monolith.platform.access import user_roles
from monolith.platform.edge.credentials import (
    EdgeCredential,
    credential_user,
    edge_credentials,
    request_token_key,
)
from monolith.platform.edge.forwarding import Caller, ServiceUnreached, service_forward
from monolith.platform.edge.shadow import SHADOW_METHODS, shadow_read_submit, shadow_sampled

logger = logging.getLogger("fleet.edge")

SERVED_BY_HEADER = "X-Served-By"
_SHADOW = "_edge_shadow"  # (module, service base URL) of a read to shadow
_CREDENTIAL = "_edge_credential"  # the remembered credential the request is authenticated with
_READ_AT = "_edge_read_at"  # when its authentication began, on the credentials' clock
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
CREDENTIAL_LOOKUPS = Counter(
    "fleet_edge_credential_lookups_total",
    "DRF tokens of requests to a routed module with a service, by whether this process "
    "remembered them (hit: no query) or not (miss: authenticated from the database).",
    ["result"],
)


def _credential_preset(request: HttpRequest) -> None:
    """Authenticate a remembered token now; else note when its reading from the database began."""
    key = request_token_key(request)
    if key is None:
        return
    credential = edge_credentials.lookup(key)
    if credential is None:
        CREDENTIAL_LOOKUPS.labels("miss").inc()
        # Before the token is read from the database (by the routing decision or the forward),
        # after the look-up (which may have forgotten everything).
        setattr(request, _READ_AT, edge_credentials.clock())
        return
    CREDENTIAL_LOOKUPS.labels("hit").inc()
    setattr(request, _CREDENTIAL, credential)
    # What the routing decision reads as the authenticated user (cohorts.identity).
    request._force_auth_user = credential_user(credential)  # type: ignore[attr-defined]


def _credential_withdraw(request: HttpRequest) -> None:
    """The view serves the request: it authenticates the token itself."""
    if getattr(request, _CREDENTIAL, None) is not None:
        delattr(request, _CREDENTIAL)
        del request._force_auth_user  # type: ignore[attr-defined]


def _takes_token_first(view_func: Callable[..., Any]) -> bool:
    """Whether the view's DRF authentication starts with the token (as every module API's
    does, by default): only then does a remembered token stand for it."""
    view_class = getattr(view_func, "cls", None)
    classes: Sequence[Any] = (
        view_class.authentication_classes
        if isinstance(view_class, type) and issubclass(view_class, APIView)
        else api_settings.DEFAULT_AUTHENTICATION_CLASSES
    )
    return bool(classes) and classes[0] is TokenAuthentication


def _caller(request: HttpRequest, view_func: Callable[..., Any]) -> Caller:
    """Who the request acts for, as the view would authenticate it (reusing the decision's
    authentication; a session must also pass the CSRF check the view would make)."""
    credential: EdgeCredential | None = getattr(request, _CREDENTIAL, None)
    if credential is not None:
        return Caller(credential.account_id, credential.roles)
    account_id = request_account_id(request, view_func)
    if account_id is None:
        return Caller(None, frozenset())
    user = getattr(request, "_force_auth_user", None)
    if user is None:
        user = request.user
        if request.method not in READ_METHODS:
            SessionAuthentication().enforce_csrf(Request(request))
        return Caller(account_id, user_roles(user))
    roles = user_roles(user)
    token = getattr(request, "_force_auth_token", None)
    read_at: float | None = getattr(request, _READ_AT, None)
    if isinstance(token, Token) and read_at is not None:
        edge_credentials.remember(token.key, account_id, roles, read_at=read_at)
    return Caller(account_id, roles)


class EdgeProxyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        module: str | None = getattr(request, "_cohort_module", None)
        if module is not None and module in settings.FLEET_SERVICE_URLS and module_routed(module):
            _credential_preset(request)
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
            _credential_withdraw(request)
            EDGE_REQUESTS.labels(module, Side.MONOLITH.value).inc()
            if decision.shadow and request.method in SHADOW_METHODS and shadow_sampled(module):
                # Its answer, once the view has made it, is also compared with the service's.
                setattr(request, _SHADOW, (module, base_url))
            return None
        read = request.method in READ_METHODS
        if not _takes_token_first(view_func):
            _credential_withdraw(request)
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
                _credential_withdraw(request)
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
