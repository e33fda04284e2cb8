"""Who a request acts for, as the view's DRF authentication will find it, found once.

Django middleware sees ``AnonymousUser`` for a token-authenticated API call: DRF authenticates
inside the view, on its own request object (waffle issues #221, #426). Routing must decide
before the view, so it runs the view's own authenticators here, once, and hands the result to
the view through DRF's forced authentication, so the view does not authenticate again (no
second token query). A session is read from ``request.user`` and never handed over: the view's
``SessionAuthentication`` must still make its CSRF check.
"""

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

_authenticators: dict[type[APIView], tuple[BaseAuthentication, ...]] = {}


def _authenticators_of(view_func: Callable[..., Any] | None) -> Sequence[BaseAuthentication]:
    view_class = getattr(view_func, "cls", None)
    if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
        defaults: Sequence[type[BaseAuthentication]] = api_settings.DEFAULT_AUTHENTICATION_CLASSES  # type: ignore[assignment]
        return tuple(auth() for auth in defaults)
    found = _authenticators.get(view_class)
    if found is None:
        # Authenticator classes keep no per-request state; one set per view class will do.
        found = _authenticators[view_class] = tuple(
            auth() for auth in view_class.authentication_classes
        )
    return found


def account_of(user: Any) -> UUID | None:
    """The account id of a signed-in user; None for anyone else."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def request_account_id(
    request: HttpRequest | Request, view_func: Callable[..., Any] | None = None
) -> UUID | None:
    """The account id the request acts for; None when anonymous or when authentication fails
    (the view then answers 401 or 403 itself)."""
    if isinstance(request, Request):
        return account_of(request.user)  # DRF has authenticated (or does it now, once)
    forced = getattr(request, "_force_auth_user", None)
    if forced is not None:
        return account_of(forced)
    drf_request = Request(request)
    for authenticator in _authenticators_of(view_func):
        if isinstance(authenticator, SessionAuthentication):
            account_id = account_of(getattr(request, "user", None))
            if account_id is not None:
                return account_id
            continue
        try:
            found = authenticator.authenticate(drf_request)
        except APIException:
            return None
        if found is None:
            continue
        user, auth = found
        # What DRF's Request reads to skip its authenticators (its test client's
        # force_authenticate sets the same): the view takes this result as it stands.
        request._force_auth_user = user  # type: ignore[attr-defined]
        request._force_auth_token = auth  # type: ignore[attr-defined]
        return account_of(user)
    return None
