"""REST requests the edge forwarded to a service: the caller is who the edge's token says.

The edge (the monolith) authenticates the rider's own credentials (DRF token, session) against
its accounts and forwards the request with an internal token for the module, naming the
account and its roles. A service has no copy of the accounts: it trusts the signature, and
the user it gives the view exists for the request only (never saved; its roles are the
token's, so no group query). Requests without the header fall through to the other
authenticators.
"""

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from monolith.platform.interservice.acting import acting_account_var
from monolith.platform.interservice.tokens import (
    TOKEN_META_KEY,
    InternalClaims,
    InternalTokenRefused,
    internal_token_verify,
)
from monolith.platform.observability import module_of_path


class InternalTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, InternalClaims] | None:
        token = request.META.get(TOKEN_META_KEY)
        if token is None:
            return None
        try:
            claims = internal_token_verify(token, audience=module_of_path(request.path))
        except InternalTokenRefused as refused:
            raise AuthenticationFailed(refused.reason, code=refused.code) from None
        if claims.account_id is None:
            raise AuthenticationFailed(
                "The internal token names no account to act for.", code="token_no_account"
            )
        user = get_user_model()(pk=claims.account_id, username=f"account-{claims.account_id}")
        # What monolith.platform.access.user_roles reads, so the view's roles come from the
        # token and no group query runs.
        user._fleet_roles = frozenset(claims.roles)  # type: ignore[attr-defined]
        # Onward internal calls act for the same account; cleared when the request ends.
        acting_account_var.set(claims.account_id)
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return "Fleet-Internal"
