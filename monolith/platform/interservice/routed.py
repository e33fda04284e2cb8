"""Cohort routing inside the monolith: another module's call to ``<module>.api`` goes where the
user is routed.

In the monolith, each module with a service (``FLEET_SERVICE_URL_<LABEL>``, the URL the edge
proxy forwards to) has the public functions of its ``api.py`` wrapped once, at start-up
(``routed_apis_install``, from the platform's ``ready``). A call then:

- from the module's own code stays here, untouched (its caller's ``__name__`` is inside the
  module's package);
- otherwise takes cohort routing's decision for the module (``current_route``): the one taken
  for the request being served (one context variable read and a dictionary look-up once it
  is taken), or outside a request, for the account the code declares it acts for
  (``acting_as``; none declared: anonymous). No query: the decision reads the process's
  snapshot of the flags;
- ``monolith``: runs here, counted on the monolith side (``traffic_record``);
- ``service``: goes to the service over the signed HTTP path (``facade.remote_stub`` with the
  service URL: pooled, timeouts, retries for ``@api_read`` only, the breaker), acting for the
  request's account, under its request id, counted on the service side. When the service does
  not answer (``ModuleUnavailable``), a read runs here instead (counted as ``fallback``, and on
  the monolith side); a write raises it: a 503 with ``Retry-After`` for the REST layer.

A deployable whose side is ``service`` wraps nothing: the module it serves is its own, and an
internal call addressed to a deployable is always served by it (``facade.api_local``).
"""

import functools
import importlib
import inspect
import sys
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from prometheus_client import Counter

from monolith.cohorts.routing import current_account, current_route
from monolith.cohorts.rules import Side
from monolith.cohorts.traffic import traffic_record
from monolith.platform.errors import FleetError
from monolith.platform.interservice.acting import acting_as
from monolith.platform.interservice.client import ModuleUnavailable
from monolith.platform.interservice.facade import LOCAL_ATTRIBUTE, is_remote, remote_stub
from monolith.platform.interservice.reads import function_is_read
from monolith.platform.registry import fleet_module, fleet_modules

ROUTED_MARK = "__fleet_routed_module__"

ROUTED_CALLS = Counter(
    "fleet_interservice_routed_calls_total",
    "In-process calls to a module's api that cohort routing sent to its service, by module and "
    "outcome: service (answered there, its errors included), fallback (a read answered here, "
    "the service down), unavailable (a write refused with 503, the service down).",
    ["module", "outcome"],
)


def _counted(module: str, side: Side, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    status = 500
    try:
        result = call(*args, **kwargs)
        status = 200
        return result
    except FleetError as error:
        status = error.status
        raise
    finally:
        traffic_record(module, side, status, time.perf_counter() - started)


def routed_stub(
    module: str, name: str, function: Callable[..., Any], *, base_url: str
) -> Callable[..., Any]:
    """``function`` (``<module>.api.<name>``), run here or at ``base_url`` as routing decides."""
    remote = remote_stub(module, name, function, base_url=base_url)
    read = function_is_read(function)
    package = fleet_module(module).name
    inside = package + "."
    caller_frame = sys._getframe

    def on_service(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()

        def served(status: int) -> None:
            traffic_record(module, Side.SERVICE, status, time.perf_counter() - started)

        try:
            with acting_as(current_account()):
                result = remote(*args, **kwargs)
        except ModuleUnavailable as unavailable:
            if not read:
                ROUTED_CALLS.labels(module, "unavailable").inc()
                served(unavailable.status)
                raise
        except FleetError as error:
            ROUTED_CALLS.labels(module, "service").inc()  # the module's own answer
            served(error.status)
            raise
        except BaseException:
            served(500)
            raise
        else:
            ROUTED_CALLS.labels(module, "service").inc()
            served(200)
            return result
        # A read the service did not answer: answered here, counted on this side only.
        ROUTED_CALLS.labels(module, "fallback").inc()
        return _counted(module, Side.MONOLITH, function, *args, **kwargs)

    @functools.wraps(function)
    def routed(*args: Any, **kwargs: Any) -> Any:
        caller = caller_frame(1).f_globals.get("__name__", "")
        if caller.startswith(inside) or caller == package:
            return function(*args, **kwargs)
        if current_route(module).side is Side.SERVICE:
            return on_service(*args, **kwargs)
        return _counted(module, Side.MONOLITH, function, *args, **kwargs)

    setattr(routed, ROUTED_MARK, module)
    setattr(routed, LOCAL_ATTRIBUTE, function)
    return routed


def routed_api_install(module: str, base_url: str) -> list[str]:
    """Route ``modules.<module>.api``'s public functions per call to ``base_url``; the names."""
    api = importlib.import_module(f"{fleet_module(module).name}.api")
    replaced = []
    for name in api.__all__:
        target = getattr(api, name)
        if not inspect.isfunction(target) or hasattr(target, ROUTED_MARK) or is_remote(target):
            continue
        setattr(api, name, routed_stub(module, name, target, base_url=base_url))
        replaced.append(name)
    return replaced


def routed_api_uninstall(module: str) -> None:
    """Put ``modules.<module>.api``'s own functions back (tests)."""
    api = importlib.import_module(f"{fleet_module(module).name}.api")
    for name in api.__all__:
        local = getattr(getattr(api, name), LOCAL_ATTRIBUTE, None)
        if local is not None:
            setattr(api, name, local)


def routed_apis_install() -> list[str]:
    """Route every module served here that has a service URL; the modules (at start-up)."""
    if settings.COHORT_DEPLOYABLE_SIDE == Side.SERVICE:
        return []
    served = {config.label for config in fleet_modules()}
    routed = []
    for module, base_url in settings.FLEET_SERVICE_URLS.items():
        if module in served:
            routed_api_install(module, base_url)
            routed.append(module)
    return routed
