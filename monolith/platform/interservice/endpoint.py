"""The internal endpoint: ``POST /internal/v1/<module>/<function>``, a module's api over HTTP.

Every deployable answers it for the modules it serves, and for the public functions of their
``api.py`` only (``__all__``). The body is ``{"arguments": {...}}`` by name; the answer is
``{"result": ...}`` (200) or ``{"error": {...}}`` with the module error's status and
``Retry-After``. A call without a valid token for that module is refused before anything
else: 401 (missing, tampered, expired) or 403 (for another module), ``{"detail", "code"}``, and
a log line. No session, no CSRF (the token is the credential), not in the OpenAPI schema.
"""

import importlib
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import Counter

from monolith.platform.errors import FleetError, InvalidRequest
from monolith.platform.interservice.acting import acting_as
from monolith.platform.interservice.client import FEED_AUDIENCE
from monolith.platform.interservice.codec import (
    CodecError,
    arguments_decode,
    encode,
    error_encode,
)
from monolith.platform.interservice.facade import api_local
from monolith.platform.interservice.tokens import (
    TOKEN_META_KEY,
    InternalClaims,
    InternalTokenRefused,
    internal_token_verify,
)
from monolith.platform.registry import fleet_modules

logger = logging.getLogger("fleet.interservice")

SERVED = Counter(
    "fleet_interservice_served_total",
    "Internal calls answered, by module, function, calling deployable and outcome.",
    ["module", "function", "caller", "outcome"],
)
REFUSED = Counter(
    "fleet_interservice_refused_total", "Internal calls refused for their token.", ["reason"]
)


def served_function(module: str, function: str) -> Callable[..., Any] | None:
    """``modules.<module>.api.<function>`` if this deployable serves it and it is public."""
    if module not in {config.label for config in fleet_modules()}:
        return None
    api = importlib.import_module(f"modules.{module}.api")
    if function not in getattr(api, "__all__", ()):
        return None
    # A call addressed to this deployable is served here, never routed on.
    found = api_local(getattr(api, function))
    return found if inspect.isfunction(found) else None


def _refusal(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def _token_claims(request: HttpRequest, audience: str, what: str) -> InternalClaims | JsonResponse:
    """The claims of the call's token for ``audience``, or the answer refusing the call."""
    try:
        return internal_token_verify(request.META.get(TOKEN_META_KEY), audience=audience)
    except InternalTokenRefused as refused:
        REFUSED.labels(refused.code).inc()
        logger.warning(
            "internal call to %s refused: %s",
            what,
            refused.reason,
            extra={"target": what, "reason": refused.code},
        )
        return _refusal(refused.status, refused.reason, refused.code)


@require_GET
def internal_feed(request: HttpRequest, module: str) -> JsonResponse:
    """``GET /internal/v1/feed/<module>?after=N&limit=M&kinds=events,rows``: a page of the
    module's outbox feed (``monolith.platform.outbox.feed``), for a feed token only."""
    from monolith.platform.outbox.feed import FeedRefused, feed_page

    claims = _token_claims(request, FEED_AUDIENCE, f"the {module} feed")
    if isinstance(claims, JsonResponse):
        return claims
    numbers = {}
    for name, default, lowest, highest in (("after", 0, 0, None), ("limit", 500, 1, 5000)):
        raw = request.GET.get(name, str(default))
        value = int(raw) if raw.isdigit() else -1
        if value < lowest or (highest is not None and value > highest):
            bounds = f"{lowest} to {highest}" if highest else f"{lowest} or more"
            invalid = InvalidRequest(f"{name} must be a whole number, {bounds}.", field=name)
            return JsonResponse({"error": error_encode(invalid)}, status=400)
        numbers[name] = value
    kinds = [kind for kind in request.GET.get("kinds", "events,rows").split(",") if kind]
    try:
        page = feed_page(module, after=numbers["after"], limit=numbers["limit"], kinds=kinds)
    except FeedRefused as refused:
        return _refusal(refused.status, str(refused), "feed_refused")
    return JsonResponse(page)


@csrf_exempt
@require_POST
def internal_call(request: HttpRequest, module: str, function: str) -> JsonResponse:
    claims = _token_claims(request, module, f"{module}.{function}")
    if isinstance(claims, JsonResponse):
        return claims
    target = served_function(module, function)
    if target is None:
        return _refusal(
            404, f"This deployable does not serve {module}.api.{function}.", "not_found"
        )
    try:
        bound = arguments_decode(target, json.loads(request.body or b"{}").get("arguments", {}))
    except (ValueError, AttributeError) as exc:
        field = (exc.where or None) if isinstance(exc, CodecError) else None
        invalid = InvalidRequest(
            f"The arguments do not fit {module}.api.{function}: {exc}", field=field
        )
        return JsonResponse({"error": error_encode(invalid)}, status=400)
    outcome = "ok"
    try:
        with acting_as(claims.account_id):
            result = target(*bound.args, **bound.kwargs)
        response = JsonResponse({"result": encode(result)})
    except FleetError as error:
        outcome = "error"
        response = JsonResponse({"error": error_encode(error)}, status=error.status)
        if error.retry_after is not None:
            response["Retry-After"] = str(error.retry_after)
    except Exception:
        outcome = "failed"
        raise
    finally:
        SERVED.labels(module, function, claims.issuer, outcome).inc()
        logger.info(
            "internal call %s.%s from %s: %s",
            module,
            function,
            claims.issuer,
            outcome,
            extra={
                "fleet_module": module,
                "function": function,
                "caller": claims.issuer,
                "account_id": str(claims.account_id) if claims.account_id else None,
                "outcome": outcome,
            },
        )
    return response
