"""Short-lived signed tokens for calls between deployables.

A token is ``<payload>.<signature>``: the payload is base64url JSON of the claims, the
signature HMAC-SHA256 over it with ``FLEET_INTERNAL_TOKEN_SECRET``, which every deployable
gets from its environment. Claims: the issuing deployable (``iss``), the module the call is
for (``aud``), the account the call acts for (``sub``, or none for a call on the system's own
behalf) and its roles, the request id (``rid``), issued-at and expiry (``iat``, ``exp``,
seconds). A receiver accepts a token for its own module only, within the expiry, allowing
``FLEET_INTERNAL_TOKEN_SKEW_SECONDS`` of clock difference either way.

Rotation: a receiver also accepts a token signed with ``FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS``
when it is set; tokens are always signed with the current secret. The steps that never refuse a
call while deployables roll are in docs/extraction.md, "Rotating the token secret".

No replay protection within the minute a token lives: the network between deployables is
the cluster's, and a captured token reaches only the one module it names.
"""

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from prometheus_client import Counter

TOKEN_HEADER = "X-Fleet-Internal-Token"  # noqa: S105 - a header name
TOKEN_META_KEY = "HTTP_X_FLEET_INTERNAL_TOKEN"  # noqa: S105 - its WSGI key
_DOMAIN = b"fleet.internal-token.v1."
_DEVELOPMENT_DERIVATION = b"fleet internal token secret, derived for development"

PREVIOUS_SECRET_ACCEPTED = Counter(
    "fleet_interservice_previous_secret_total",
    "Internal tokens accepted because they were signed with the previous secret: once it stays "
    "flat, every deployable signs with the current one and the previous can be removed.",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class InternalClaims:
    issuer: str
    audience: str
    account_id: UUID | None
    roles: tuple[str, ...]
    request_id: str | None
    issued_at: int
    expires_at: int


class InternalTokenRefused(Exception):
    """A token a receiver does not accept: ``status`` 401 (not a valid token now) or 403."""

    def __init__(self, reason: str, *, code: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status


def internal_token_secret() -> bytes:
    """The shared secret; locally, without one set, a value derived from ``SECRET_KEY``.

    Production settings refuse to start without ``FLEET_INTERNAL_TOKEN_SECRET``, so the
    derived value only ever signs calls between local processes sharing one ``SECRET_KEY``.
    """
    configured: str = settings.FLEET_INTERNAL_TOKEN_SECRET
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), _DEVELOPMENT_DERIVATION, hashlib.sha256).digest()


def internal_token_previous_secret() -> bytes | None:
    """The secret a receiver still accepts while a rotation rolls out, if one is set."""
    previous: str = settings.FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS
    return previous.encode() if previous else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, _DOMAIN + payload.encode("ascii"), hashlib.sha256).digest())


def internal_token_issue(
    *,
    audience: str,
    account_id: UUID | None = None,
    roles: tuple[str, ...] | list[str] = (),
    request_id: str | None = None,
    issuer: str | None = None,
    now: float | None = None,
    ttl_seconds: int | None = None,
    secret: bytes | None = None,
) -> str:
    """A token for a call to ``audience`` (a module label) acting for ``account_id``."""
    issued_at = int(time.time() if now is None else now)
    ttl = settings.FLEET_INTERNAL_TOKEN_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    claims = {
        "iss": issuer or settings.FLEET_DEPLOYABLE_NAME,
        "aud": audience,
        "sub": None if account_id is None else str(account_id),
        "roles": sorted(roles),
        "rid": request_id,
        "iat": issued_at,
        "exp": issued_at + ttl,
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_signature(payload, secret or internal_token_secret())}"


def _signed_with(payload: str, signature: str, secret: bytes) -> bool:
    if not signature or not payload.isascii():
        return False
    return hmac.compare_digest(signature.encode(), _signature(payload, secret).encode())


def internal_token_verify(
    token: str | None,
    *,
    audience: str,
    now: float | None = None,
    secret: bytes | None = None,
) -> InternalClaims:
    """The claims of a valid token for ``audience``; raises ``InternalTokenRefused``.

    Signed with ``secret`` if given, else with the current secret or the previous one.
    """
    if not token:
        raise InternalTokenRefused(
            f"An internal call needs a signed {TOKEN_HEADER} header.", code="token_missing"
        )
    payload, _, signature = token.partition(".")
    if not _signed_with(payload, signature, secret or internal_token_secret()):
        previous = None if secret else internal_token_previous_secret()
        if previous is None or not _signed_with(payload, signature, previous):
            raise InternalTokenRefused(
                "The internal token's signature does not match (tampered, or signed with "
                "another secret).",
                code="token_invalid",
            )
        PREVIOUS_SECRET_ACCEPTED.inc()
    try:
        raw = json.loads(_unb64(payload))
        claims = InternalClaims(
            issuer=str(raw["iss"]),
            audience=str(raw["aud"]),
            account_id=None if raw["sub"] is None else UUID(raw["sub"]),
            roles=tuple(str(role) for role in raw["roles"]),
            request_id=None if raw["rid"] is None else str(raw["rid"]),
            issued_at=int(raw["iat"]),
            expires_at=int(raw["exp"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        # Signed with the secret yet unreadable: a bug in the issuer, not an attack.
        raise InternalTokenRefused(
            "The internal token's claims are malformed.", code="token_invalid"
        ) from None
    moment = time.time() if now is None else now
    skew = settings.FLEET_INTERNAL_TOKEN_SKEW_SECONDS
    lifetime = settings.FLEET_INTERNAL_TOKEN_TTL_SECONDS
    if claims.expires_at - claims.issued_at > lifetime:
        raise InternalTokenRefused(
            f"The internal token lives {claims.expires_at - claims.issued_at} s; at most "
            f"{lifetime} s is accepted.",
            code="token_invalid",
        )
    if moment > claims.expires_at + skew:
        raise InternalTokenRefused(
            f"The internal token expired {moment - claims.expires_at:.0f} s ago.",
            code="token_expired",
        )
    if claims.issued_at > moment + skew:
        raise InternalTokenRefused(
            f"The internal token was issued {claims.issued_at - moment:.0f} s in the future: "
            "the two deployables' clocks disagree.",
            code="token_not_yet_valid",
        )
    if claims.audience != audience:
        raise InternalTokenRefused(
            f"The internal token is for {claims.audience!r}, not {audience!r}.",
            code="token_wrong_audience",
            status=403,
        )
    return claims
