"""The routing version in Redis: announced after every change, compared by every process.

The version is a random token, not a counter: a Redis that restarted empty must never hand a
process back a value it already holds. Calls have short timeouts, and after a failure Redis is
left alone for a few seconds (each process then reloads from the database every refresh), so
an unreachable Redis costs a request at most one timeout, never routing.
"""

import logging
import threading
import time
import uuid

import redis
from django.conf import settings

log = logging.getLogger("fleet.cohorts")

REDIS_TIMEOUT_SECONDS = 0.2
REDIS_RETRY_AFTER_SECONDS = 5.0

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_url = ""
_down_until = 0.0


def routing_redis(*, even_if_down: bool = False) -> redis.Redis | None:
    """The shared Redis, or None when none is configured or it failed a moment ago."""
    global _client, _client_url
    url = settings.COHORT_ROUTING_REDIS_URL
    if not url or (time.monotonic() < _down_until and not even_if_down):
        return None
    client = _client
    if client is None or _client_url != url:
        with _lock:
            # redis-py's pool notices a fork and opens new connections in the child.
            client = redis.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            _client, _client_url = client, url
    return client


def routing_redis_failed(error: Exception, doing: str) -> None:
    """Leave Redis alone for a few seconds after a failure, and say so once."""
    global _down_until
    if time.monotonic() >= _down_until:
        log.warning("cohort routing: Redis failed while %s (%s); using the database", doing, error)
    _down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS


def routing_key(name: str) -> str:
    return f"{settings.COHORT_ROUTING_KEY_PREFIX}{name}"


def version_read(name: str, what: str) -> str | None:
    """The version announced under ``name``; None when Redis cannot say (the caller reloads
    from the database or forgets). ``what`` names it in the log."""
    client = routing_redis()
    if client is None:
        return None
    key = routing_key(name)
    try:
        token = client.get(key)
        if token is None:
            # Redis restarted empty (or never held one): every process reloads once.
            client.set(key, uuid.uuid4().hex, nx=True)
            token = client.get(key)
    except redis.RedisError as error:
        routing_redis_failed(error, f"reading the {what} version")
        return None
    return token.decode() if isinstance(token, bytes) else None


def version_announce(name: str, what: str) -> None:
    """Tell every process that what ``name`` versions changed (once the change is committed).

    Tried even when Redis failed a moment ago: a lost announcement leaves other processes
    behind until their copy's maximum age.
    """
    client = routing_redis(even_if_down=True)
    if client is None:
        return
    try:
        client.set(routing_key(name), uuid.uuid4().hex)
    except redis.RedisError as error:
        routing_redis_failed(error, f"announcing a change of {what}")


def routing_version_read() -> str | None:
    """The announced routing version; None when Redis cannot say (reload from the database)."""
    return version_read("routing-version", "routing")


def routing_version_announce() -> None:
    """Tell every process that routing changed (call once the change is committed)."""
    version_announce("routing-version", "routing")


def routing_redis_forget() -> None:
    """Drop the client and any remembered failure (after the settings changed, in tests)."""
    global _client, _client_url, _down_until
    with _lock:
        _client, _client_url, _down_until = None, "", 0.0
