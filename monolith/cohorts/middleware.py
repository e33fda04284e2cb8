"""Routing at the edge: the decision before the view, X-Served-By and traffic per side after.

For a request to a fleet module's API (``/api/v1/<module>/``): when this deployable routes the
module, the decision is taken once the URL is resolved, with the view's own DRF authenticators
(``routing.route_for_request``), before the view runs; every such response says in
``X-Served-By`` which side answered (this deployable's side unless something downstream, such
as the edge proxy, set it) and is counted per side (``traffic``). While the request runs, its
decisions are what ``routing.current_route`` answers, so a call it makes into another module's
``api.py`` goes to the side this request's user is routed to for that module
(``monolith.platform.interservice.routed``). Other paths pass untouched.
"""

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from monolith.cohorts.config import routing_config
from monolith.cohorts.routing import (
    request_routing_begin,
    request_routing_end,
    route_for_request,
)
from monolith.cohorts.rules import Side
from monolith.cohorts.traffic import traffic_record
from monolith.platform.observability import module_of_path
from monolith.platform.registry import fleet_modules

SERVED_BY_HEADER = "X-Served-By"

_fleet_labels: frozenset[str] | None = None


def fleet_module_of_path(path: str) -> str | None:
    """The fleet module whose API ``path`` is under, if any."""
    global _fleet_labels
    if not path.startswith("/api/v1/"):
        return None
    if _fleet_labels is None:
        _fleet_labels = frozenset(config.label for config in fleet_modules())
    module = module_of_path(path)
    return module if module in _fleet_labels else None


class CohortRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        module = fleet_module_of_path(request.path_info)
        if module is None:
            return self.get_response(request)
        started = time.perf_counter()
        request._cohort_module = module  # type: ignore[attr-defined]
        routing = request_routing_begin(request)
        try:
            response = self.get_response(request)
        finally:
            request_routing_end(routing)
        response.setdefault(SERVED_BY_HEADER, routing_config().deployable_side)
        side = Side.SERVICE if response[SERVED_BY_HEADER] == Side.SERVICE else Side.MONOLITH
        traffic_record(module, side, response.status_code, time.perf_counter() - started)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        module = getattr(request, "_cohort_module", None)
        if module is not None and module in routing_config().routed_modules:
            route_for_request(request, module, view_func=view_func)
        return None
