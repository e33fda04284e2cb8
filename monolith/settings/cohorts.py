"""Cohort routing: which side (monolith or extracted service) serves each user's requests.

Variables: ``COHORT_ROUTED_MODULES``, ``COHORT_DEPLOYABLE_SIDE``, ``COHORT_ROUTING_REDIS_URL``,
``COHORT_ROUTING_REFRESH_MS``, and shadow mode's ``COHORT_SHADOW_*``. How it works and the
measured figures: docs/cohort-routing.md.
"""

import json
from typing import Any

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from monolith.settings.celery import CELERY_BROKER_URL
from monolith.settings.environment import env_int, env_list, env_str

# The waffle flag model: one flag per module (``route.<module>``), with a sticky percentage.
WAFFLE_FLAG_MODEL = "cohorts.RoutingFlag"

# The modules this deployable may send to their extracted service. A flag for any other module
# is kept and shown, but routes nobody away: there is no service to send them to.
COHORT_ROUTED_MODULES = env_list("COHORT_ROUTED_MODULES", [])
# What this deployable is in routing's terms: the value of X-Served-By and of the metrics'
# ``side`` label for what it serves itself. An extracted service's settings say "service".
COHORT_DEPLOYABLE_SIDE = env_str("COHORT_DEPLOYABLE_SIDE", "monolith")


def _redis_url(url: str) -> str:
    """The broker's Redis in redis-py's spelling (kombu writes a socket as redis+socket://)."""
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url if url.startswith(("redis://", "rediss://", "unix://")) else ""


# Where routing changes are announced to every process and traffic per side is counted. The
# broker's Redis unless set; with none, each process reloads routing from the database every
# refresh instead (still bounded, one query per refresh per process) and traffic is not shared.
COHORT_ROUTING_REDIS_URL = _redis_url(env_str("COHORT_ROUTING_REDIS_URL", "") or CELERY_BROKER_URL)
COHORT_ROUTING_KEY_PREFIX = env_str("COHORT_ROUTING_KEY_PREFIX", "fleet:cohorts:")
# A process checks the announced routing version at most this often; a change therefore
# reaches every process within about this long (measured: docs/cohort-routing.md).
COHORT_ROUTING_REFRESH_MS = env_int("COHORT_ROUTING_REFRESH_MS", 250)
# The bound the tests hold every process to: refresh plus reload plus the time to announce.
COHORT_ROUTING_PROPAGATION_BOUND_MS = env_int("COHORT_ROUTING_PROPAGATION_BOUND_MS", 1000)
# Reload from the database this often even when no change was announced, in case an
# announcement was lost (Redis restarted or unreachable at the moment of the change).
COHORT_ROUTING_MAX_AGE_SECONDS = env_int("COHORT_ROUTING_MAX_AGE_SECONDS", 60)
# Traffic per side: each process adds its counts to Redis this often; status reads the last
# few minutes.
COHORT_TRAFFIC_FLUSH_SECONDS = env_int("COHORT_TRAFFIC_FLUSH_SECONDS", 2)
COHORT_TRAFFIC_WINDOW_MINUTES = env_int("COHORT_TRAFFIC_WINDOW_MINUTES", 5)


def _env_json_object(name: str, default: dict[str, Any]) -> dict[str, Any]:
    raw = env_str(name, "").strip()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not JSON ({error}).") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object keyed by module.")
    return value


def _volatile_fields(name: str) -> dict[str, tuple[str, ...]]:
    fields: dict[str, tuple[str, ...]] = {}
    for module, paths in _env_json_object(name, {}).items():
        if not isinstance(paths, list) or not all(
            isinstance(path, str) and path and "" not in path.split(".") for path in paths
        ):
            raise ImproperlyConfigured(
                f"{name}[{module!r}] must be a list of field names or dotted paths "
                '(for example ["served_at", "results.eta"]).'
            )
        fields[module] = tuple(paths)
    return fields


def _sample_percent(name: str) -> dict[str, float]:
    shares: dict[str, float] = {}
    for module, percent in _env_json_object(name, {}).items():
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise ImproperlyConfigured(f"{name}[{module!r}] must be a number from 0 to 100.")
        if not 0 <= percent <= 100:
            raise ImproperlyConfigured(f"{name}[{module!r}]={percent} is not from 0 to 100.")
        shares[module] = float(percent)
    return shares


# Shadow mode (``manage.py cohort shadow <module> on``): the monolith serves, and its reads are
# also sent to the module's service by a few threads in each process and the answers compared.
# Reads waiting for a thread beyond the queue's size are dropped (counted), never waited for.
COHORT_SHADOW_WORKERS = env_int("COHORT_SHADOW_WORKERS", 2)
COHORT_SHADOW_QUEUE_SIZE = env_int("COHORT_SHADOW_QUEUE_SIZE", 200)
# Fields that may differ between the two answers without being a mismatch, per module ("*":
# every module), as JSON: {"trips": ["served_at", "results.eta"]}. A name without a dot is
# ignored at any depth; a dotted path is matched from the top of the answer, list items being
# transparent (results.eta is the eta of every item in results); a segment may be a glob
# (*_at). None by default: every field the fleet modules' APIs answer is stored data, the
# same on both sides once backfilled; a field made at serving time must be declared.
COHORT_SHADOW_VOLATILE_FIELDS = _volatile_fields("COHORT_SHADOW_VOLATILE_FIELDS")
# The share of a module's reads that are shadowed, per module, as JSON ({"trips": 25});
# 100 for a module not named.
COHORT_SHADOW_SAMPLE_PERCENT = _sample_percent("COHORT_SHADOW_SAMPLE_PERCENT")
# Answers larger than this (either side's) are not compared: counted as skipped.
COHORT_SHADOW_MAX_BODY_BYTES = env_int("COHORT_SHADOW_MAX_BODY_BYTES", 1024 * 1024)
# `manage.py cohort prune` and the daily `cohorts.shadow_mismatches_prune` task delete recorded
# mismatches older than this.
COHORT_SHADOW_RETENTION_DAYS = env_int("COHORT_SHADOW_RETENTION_DAYS", 14)
if COHORT_SHADOW_WORKERS < 1 or COHORT_SHADOW_QUEUE_SIZE < 1 or COHORT_SHADOW_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        "COHORT_SHADOW_WORKERS, COHORT_SHADOW_QUEUE_SIZE and COHORT_SHADOW_RETENTION_DAYS must "
        "be at least 1."
    )

# This file's beat entries; base.py assembles CELERY_BEAT_SCHEDULE (celery.beat_schedule).
CELERY_BEAT_COHORTS = {
    # Daily, at a quiet hour apart from platform.events_prune (03:40), so the two deletions do
    # not load the database at once.
    "cohorts.shadow_mismatches_prune": {
        "task": "cohorts.shadow_mismatches_prune",
        "schedule": crontab(minute=20, hour=4),
    },
}
