"""Cohort routing: which side (monolith or extracted service) serves each user's requests.

Variables: ``COHORT_ROUTED_MODULES``, ``COHORT_DEPLOYABLE_SIDE``, ``COHORT_ROUTING_REDIS_URL``,
``COHORT_ROUTING_REFRESH_MS``. How it works and the measured figures: docs/cohort-routing.md.
"""

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
