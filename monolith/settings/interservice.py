"""Calls between deployables: the shared token secret and the HTTP client's limits.

Variables: ``FLEET_INTERNAL_TOKEN_SECRET`` (required in production, at least 32 characters, the
same value in the monolith and every service; locally and in tests, unset means a value
derived from ``SECRET_KEY``, which every local process shares),
``FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS`` (optional: also accepted during a rotation),
``FLEET_DEPLOYABLE_NAME`` (the issuer named in the tokens this deployable signs),
``FLEET_INTERSERVICE_*`` (timeouts, read retries, circuit breaker). How it works:
docs/extraction.md, "Calls between deployables".
"""

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.environment import env_int, env_str

FLEET_INTERNAL_TOKEN_SECRET = env_str("FLEET_INTERNAL_TOKEN_SECRET", "")
# While the secret is rotated: the one tokens were signed with until now, still accepted (never
# used to sign). Unset once every deployable signs with the new one.
FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS = env_str("FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS", "")
if 0 < len(FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS) < 32:
    raise ImproperlyConfigured(
        "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS is set but shorter than 32 characters: set it to "
        "the secret the deployables signed with before the rotation, or unset it."
    )
FLEET_DEPLOYABLE_NAME = env_str("FLEET_DEPLOYABLE_NAME", "monolith")
# Tokens live this long; a receiver accepts clocks this far apart.
FLEET_INTERNAL_TOKEN_TTL_SECONDS = env_int("FLEET_INTERNAL_TOKEN_TTL_SECONDS", 60)
FLEET_INTERNAL_TOKEN_SKEW_SECONDS = env_int("FLEET_INTERNAL_TOKEN_SKEW_SECONDS", 5)

# Base URL of each fleet module this deployable reaches over HTTP (an extracted service sets
# them all from FLEET_MODULE_URL_<LABEL>); the monolith serves every module itself.
FLEET_MODULE_URLS: dict[str, str] = {}

# The HTTP client, per base URL: a connection pool, timeouts in milliseconds, retries for
# reads only, and a circuit breaker that opens after this many failures in a row and lets one
# trial call through once the reset time has passed.
FLEET_INTERSERVICE_POOL_SIZE = env_int("FLEET_INTERSERVICE_POOL_SIZE", 10)
FLEET_INTERSERVICE_CONNECT_TIMEOUT_MS = env_int("FLEET_INTERSERVICE_CONNECT_TIMEOUT_MS", 1000)
FLEET_INTERSERVICE_READ_TIMEOUT_MS = env_int("FLEET_INTERSERVICE_READ_TIMEOUT_MS", 5000)
FLEET_INTERSERVICE_READ_RETRIES = env_int("FLEET_INTERSERVICE_READ_RETRIES", 2)
FLEET_INTERSERVICE_RETRY_BACKOFF_MS = env_int("FLEET_INTERSERVICE_RETRY_BACKOFF_MS", 50)
FLEET_INTERSERVICE_BREAKER_FAILURES = env_int("FLEET_INTERSERVICE_BREAKER_FAILURES", 5)
FLEET_INTERSERVICE_BREAKER_RESET_SECONDS = env_int("FLEET_INTERSERVICE_BREAKER_RESET_SECONDS", 10)
