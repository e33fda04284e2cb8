"""Which side serves a request: the front door of cohort routing.

- ``route_for_request(request, module)``: the decision for a request, taken once (cached on the
  request) and after authentication (DRF's, see ``identity``); the middleware takes it for every
  request to a routed module's API, before the view runs.
- ``current_route(module)``: the same decision for code running inside that request, such as
  one module's call to another's ``api.py`` (``monolith.platform.interservice.routed``): the
  request's decisions per module are in a context variable, so a decision already taken costs
  one read of it and a dictionary look-up. Outside a request (a Celery task, a management
  command) it decides for the account the code declares it acts for
  (``monolith.platform.interservice.acting.acting_as``), else as anonymous.
- ``current_account()``: that account, for the call that goes to the service to act for.
- ``route_for_account(module, account_id)``: the decision for an account, with no request.

None of them queries the database: they read this process's snapshot of the flags
(``snapshot``), refreshed within a bounded time of any change.
"""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from rest_framework.request import Request

from monolith.cohorts.config import routing_config
from monolith.cohorts.identity import account_of, request_account_id
from monolith.cohorts.rules import CohortRule, Reason, Side, route_flag_name
from monolith.cohorts.snapshot import routing_rules
from monolith.cohorts.traffic import decision_count
from monolith.platform.interservice.acting import acting_account

_DECISIONS_ATTRIBUTE = "_cohort_decisions"


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one module's work for one request is done, and why.

    ``shadow``: the monolith serves, and the module is in shadow mode, so its reads are also to
    be sent to the service for comparison.
    """

    module: str
    side: Side
    reason: Reason
    shadow: bool = False


@dataclass(frozen=True, slots=True)
class RequestRoutes:
    """The request being served and its decisions so far, per module (the same dictionary
    ``route_for_request`` fills)."""

    request: HttpRequest
    decisions: dict[str, Decision]


_request_routes: contextvars.ContextVar[RequestRoutes | None] = contextvars.ContextVar(
    "cohort_request_routes", default=None
)


def module_routed(module: str) -> bool:
    """Whether this deployable may send ``module``'s requests to its service."""
    return module in routing_config().routed_modules


# Decisions are few (module x side x reason x shadow): made once each, then shared.
_decisions: dict[tuple[str, Side, Reason, bool], Decision] = {}


def _decision(module: str, side: Side, reason: Reason, shadow: bool = False) -> Decision:
    key = (module, side, reason, shadow)
    decision = _decisions.get(key)
    if decision is None:
        decision = _decisions[key] = Decision(module, side, reason, shadow)
    return decision


def route_decide(module: str, rule: CohortRule | None, account_id: UUID | None) -> Decision:
    """The decision ``rule`` (None: no flag) makes for ``account_id``."""
    if rule is None:
        return _decision(module, Side.MONOLITH, Reason.NOBODY)
    in_cohort, reason = rule.place(account_id)
    if in_cohort:
        return _decision(module, Side.SERVICE, reason)
    return _decision(module, Side.MONOLITH, reason, rule.shadow)


def route_for_account(module: str, account_id: UUID | None) -> Decision:
    """The side that serves ``account_id`` (None: anonymous) for ``module``."""
    if not module_routed(module):
        return _decision(module, Side.MONOLITH, Reason.NOT_ROUTED)
    return route_decide(module, routing_rules().get(route_flag_name(module)), account_id)


def route_for_request(
    request: HttpRequest | Request, module: str, *, view_func: Callable[..., Any] | None = None
) -> Decision:
    """The decision for this request and module: taken once, after authentication.

    Authentication runs only when the decision depends on who asks (a partial cohort); a DRF
    request is asked for its user, a plain request authenticated as ``view_func``'s DRF view
    would authenticate it (``identity``), and the view then reuses that.
    """
    return _route_once(request, module, lambda: request_account_id(request, view_func))


def _decisions_of(request: HttpRequest) -> dict[str, Decision]:
    decisions: dict[str, Decision] | None = getattr(request, _DECISIONS_ATTRIBUTE, None)
    if decisions is None:
        decisions = {}
        setattr(request, _DECISIONS_ATTRIBUTE, decisions)
    return decisions


def _route_once(
    request: HttpRequest | Request, module: str, account: Callable[[], UUID | None]
) -> Decision:
    http_request = request._request if isinstance(request, Request) else request
    decisions = _decisions_of(http_request)
    decision = decisions.get(module)
    if decision is not None:
        return decision
    if not module_routed(module):
        decision = _decision(module, Side.MONOLITH, Reason.NOT_ROUTED)
    else:
        rule = routing_rules().get(route_flag_name(module))
        account_id = account() if rule is not None and rule.needs_account else None
        decision = route_decide(module, rule, account_id)
        decision_count(decision.module, decision.side, decision.reason)
    decisions[module] = decision
    return decision


def request_routing_begin(request: HttpRequest) -> contextvars.Token[RequestRoutes | None]:
    """Make ``request`` the one ``current_route`` decides for, until ``request_routing_end``."""
    return _request_routes.set(RequestRoutes(request, _decisions_of(request)))


def request_routing_end(token: contextvars.Token[RequestRoutes | None]) -> None:
    _request_routes.reset(token)


def current_route(module: str) -> Decision:
    """The decision for ``module`` in the request being served: the one taken for it already,
    else taken now (once, for the user DRF authenticated). Outside a request, the decision for
    the account the code acts for (``acting_as``), or as anonymous."""
    routes = _request_routes.get()
    if routes is None:
        return route_for_account(module, acting_account())
    decision = routes.decisions.get(module)
    if decision is not None:
        return decision
    request = routes.request
    # Inside the view DRF has authenticated, and set the user on the request it wraps.
    return _route_once(request, module, lambda: account_of(getattr(request, "user", None)))


def current_account() -> UUID | None:
    """The account ``current_route`` decides for: the request's user, else the acting account."""
    routes = _request_routes.get()
    if routes is None:
        return acting_account()
    return account_of(getattr(routes.request, "user", None))
