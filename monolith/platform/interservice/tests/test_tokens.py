"""Internal tokens: signed, short-lived, for one module, with a little clock skew allowed."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from monolith.platform.interservice.tokens import (
    InternalTokenRefused,
    internal_token_issue,
    internal_token_verify,
)

SECRET = b"a-secret-shared-by-the-deployables-0123456789"
NOW = 1_900_000_000.0


def refusal(
    token: str | None, *, audience: str = "users", now: float = NOW
) -> InternalTokenRefused:
    with pytest.raises(InternalTokenRefused) as refused:
        internal_token_verify(token, audience=audience, now=now, secret=SECRET)
    return refused.value


def test_a_token_carries_the_issuer_audience_account_roles_and_request_id() -> None:
    account = uuid.uuid4()
    token = internal_token_issue(
        audience="users",
        account_id=account,
        roles=["rider"],
        request_id="req-1",
        issuer="trips-service",
        now=NOW,
        secret=SECRET,
    )

    claims = internal_token_verify(token, audience="users", now=NOW + 30, secret=SECRET)

    assert (claims.issuer, claims.audience, claims.account_id) == (
        "trips-service",
        "users",
        account,
    )
    assert (claims.roles, claims.request_id) == (("rider",), "req-1")
    assert claims.expires_at - claims.issued_at == 60


def test_a_call_on_the_systems_own_behalf_names_no_account() -> None:
    token = internal_token_issue(audience="users", now=NOW, secret=SECRET)
    assert internal_token_verify(token, audience="users", now=NOW, secret=SECRET).account_id is None


def test_a_missing_token_is_refused_with_401() -> None:
    for token in (None, ""):
        refused = refusal(token)
        assert (refused.status, refused.code) == (401, "token_missing")


def test_an_expired_token_is_refused_once_past_the_skew() -> None:
    token = internal_token_issue(audience="users", now=NOW, secret=SECRET)
    # Expired 4 s ago: within the 5 s skew, still accepted.
    internal_token_verify(token, audience="users", now=NOW + 64, secret=SECRET)

    refused = refusal(token, now=NOW + 66)

    assert (refused.status, refused.code) == (401, "token_expired")
    assert "expired 6 s ago" in refused.reason


def test_a_token_from_a_clock_ahead_beyond_the_skew_is_refused() -> None:
    ahead = internal_token_issue(audience="users", now=NOW + 4, secret=SECRET)
    internal_token_verify(ahead, audience="users", now=NOW, secret=SECRET)

    far_ahead = internal_token_issue(audience="users", now=NOW + 10, secret=SECRET)
    assert refusal(far_ahead).code == "token_not_yet_valid"


def test_a_token_living_longer_than_allowed_is_refused() -> None:
    token = internal_token_issue(audience="users", now=NOW, ttl_seconds=3600, secret=SECRET)
    assert refusal(token).code == "token_invalid"


def test_a_tampered_or_foreign_token_is_refused() -> None:
    token = internal_token_issue(audience="vehicles", now=NOW, secret=SECRET)
    payload, signature = token.split(".")
    # The payload says vehicles; rewrite it to users and keep the signature.
    forged = internal_token_issue(audience="users", now=NOW, secret=b"x" * 40).split(".")[0]
    for bad in (
        f"{forged}.{signature}",
        f"{payload}.{signature[:-2]}AA",
        payload,
        "not a token at all",
        "é.é",
        internal_token_issue(audience="users", now=NOW, secret=b"another-secret-" * 3),
    ):
        refused = refusal(bad)
        assert (refused.status, refused.code) == (401, "token_invalid"), bad


def test_a_token_for_another_module_is_refused_with_403() -> None:
    token = internal_token_issue(audience="vehicles", now=NOW, secret=SECRET)

    refused = refusal(token, audience="users")

    assert (refused.status, refused.code) == (403, "token_wrong_audience")


def test_the_secret_comes_from_the_settings_or_locally_from_the_secret_key() -> None:
    with override_settings(FLEET_INTERNAL_TOKEN_SECRET="s" * 40):
        token = internal_token_issue(audience="users")
        internal_token_verify(token, audience="users", secret=b"s" * 40)
    with override_settings(FLEET_INTERNAL_TOKEN_SECRET="", SECRET_KEY="k" * 50):
        derived = internal_token_issue(audience="users")
        internal_token_verify(derived, audience="users")
    with override_settings(FLEET_INTERNAL_TOKEN_SECRET="", SECRET_KEY="other" * 10):
        assert refusal(derived, now=time.time()).code == "token_invalid"


def test_during_a_rotation_the_previous_secret_is_accepted_and_the_current_one_signs() -> None:
    old, new = (
        "old-secret-the-deployables-signed-with-0123",
        "new-secret-the-deployables-sign-with-4567",
    )
    signed_before = internal_token_issue(audience="users", secret=old.encode())
    accepted = REGISTRY.get_sample_value("fleet_interservice_previous_secret_total") or 0.0

    with override_settings(
        FLEET_INTERNAL_TOKEN_SECRET=new, FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS=old
    ):
        assert internal_token_verify(signed_before, audience="users").audience == "users"
        signed_now = internal_token_issue(audience="users")
        internal_token_verify(signed_now, audience="users", secret=new.encode())
        # A receiver not yet told about the new secret would refuse it: it is really new.
        with pytest.raises(InternalTokenRefused):
            internal_token_verify(signed_now, audience="users", secret=old.encode())
        # An explicit secret means that one only.
        with pytest.raises(InternalTokenRefused):
            internal_token_verify(signed_before, audience="users", secret=new.encode())
        # The previous secret opens no more than the current: the audience still counts.
        assert refusal_now(signed_before, audience="vehicles").code == "token_wrong_audience"
    assert REGISTRY.get_sample_value("fleet_interservice_previous_secret_total") == accepted + 2

    # Rotation over: the previous secret is no longer accepted.
    with override_settings(
        FLEET_INTERNAL_TOKEN_SECRET=new, FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS=""
    ):
        assert refusal_now(signed_before).code == "token_invalid"


def refusal_now(token: str, *, audience: str = "users") -> InternalTokenRefused:
    with pytest.raises(InternalTokenRefused) as refused:
        internal_token_verify(token, audience=audience)
    return refused.value


def test_a_previous_secret_too_short_to_be_one_stops_the_start_up() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import monolith.settings.interservice"],
        env={**os.environ, "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS": "short"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS is set but shorter than 32 characters" in (
        done.stderr
    )
