"""Domain events: delivery attempts, order per aggregate, retention of outboxes and inboxes.

Why each value is what it is: docs/decisions/0006-outbox-per-module.md. Imported by base.py
after celery.py, whose delays and visibility timeout the windows below are checked against.
"""

import os

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from monolith.settings.celery import FLEET_BROKER_VISIBILITY_TIMEOUT, FLEET_TASK_MAX_DELAY_SECONDS
from monolith.settings.edge import FLEET_SERVICE_URLS
from monolith.settings.environment import env_int, env_str

_DAY = 86_400

# A delivery whose handler fails is retried with doubling delays (capped by the platform's
# longest task delay) and parked after this many attempts.
FLEET_EVENT_MAX_ATTEMPTS = env_int("FLEET_EVENT_MAX_ATTEMPTS", 5)
_RETRY_WINDOW = sum(
    min(FLEET_TASK_MAX_DELAY_SECONDS, 2**attempt) for attempt in range(FLEET_EVENT_MAX_ATTEMPTS - 1)
)

# The sweep (beat, every 10 s) relays rows waiting longer than this: their relay after commit
# was lost (broker down, process killed).
FLEET_OUTBOX_SWEEP_AFTER_SECONDS = env_int("FLEET_OUTBOX_SWEEP_AFTER_SECONDS", 5)

# Order per aggregate: a delivery whose predecessor (the aggregate's previous event for the
# same subscriber) is not processed yet waits for it, at most this long, then it is parked
# naming the event it waits for. Long enough to outlast the predecessor's whole retry schedule
# plus one redelivery after its worker was lost (the broker's visibility timeout): a wait
# shorter than that parks deliveries whose predecessor was only slow.
FLEET_EVENT_ORDER_MAX_WAIT_SECONDS = env_int(
    "FLEET_EVENT_ORDER_MAX_WAIT_SECONDS", FLEET_BROKER_VISIBILITY_TIMEOUT + _RETRY_WINDOW + 60
)

# Pruning (`manage.py events prune`, and the daily `platform.events_prune` task): relayed
# outbox rows, and inbox rows, older than these are deleted, in batches of
# FLEET_EVENTS_PRUNE_BATCH rows (one short transaction each). Unrelayed outbox rows and parked
# deliveries are never deleted.
FLEET_OUTBOX_RETENTION_DAYS = env_int("FLEET_OUTBOX_RETENTION_DAYS", 7)
# The inbox is what makes a redelivery harmless, so it must remember an event for as long as a
# copy of its delivery can still arrive: past every retry, order wait and broker redelivery
# (the redelivery window below), and for as long as the event's outbox row exists, since a row
# still in the outbox can be relayed again (an operator replaying it). A delivery also stops
# waiting for a predecessor that occurred longer ago than this: its inbox row may be pruned.
FLEET_INBOX_RETENTION_DAYS = env_int("FLEET_INBOX_RETENTION_DAYS", 14)
FLEET_EVENTS_PRUNE_BATCH = env_int("FLEET_EVENTS_PRUNE_BATCH", 1000)

# How long a delivery may take from its relay to its handler's commit (or parking): the broker
# holding it for a lost worker, its retries, its wait for a predecessor.
_REDELIVERY_WINDOW = (
    FLEET_BROKER_VISIBILITY_TIMEOUT + _RETRY_WINDOW + FLEET_EVENT_ORDER_MAX_WAIT_SECONDS
)
# A relayed delivery that no subscriber's inbox or parked list shows after this long was lost
# on the way (Redis hands a message to a worker that dies before recording it as
# unacknowledged: nothing brings it back); the sweep sends it again. By default the whole
# redelivery window: before that, a delivery may still be queued, retrying, waiting for its
# predecessor or due back from the broker, and a resend would be harmless but wasted.
FLEET_OUTBOX_RESEND_AFTER_SECONDS = env_int("FLEET_OUTBOX_RESEND_AFTER_SECONDS", _REDELIVERY_WINDOW)
if FLEET_OUTBOX_RESEND_AFTER_SECONDS < 1:
    raise ImproperlyConfigured("FLEET_OUTBOX_RESEND_AFTER_SECONDS must be at least 1.")
if FLEET_OUTBOX_RETENTION_DAYS < 1 or FLEET_EVENTS_PRUNE_BATCH < 1:
    raise ImproperlyConfigured(
        "FLEET_OUTBOX_RETENTION_DAYS and FLEET_EVENTS_PRUNE_BATCH must be at least 1."
    )
if FLEET_INBOX_RETENTION_DAYS < FLEET_OUTBOX_RETENTION_DAYS:
    raise ImproperlyConfigured(
        f"FLEET_INBOX_RETENTION_DAYS={FLEET_INBOX_RETENTION_DAYS} must be at least "
        f"FLEET_OUTBOX_RETENTION_DAYS={FLEET_OUTBOX_RETENTION_DAYS}: an event still in an "
        f"outbox can be relayed again, and only the inbox makes that harmless."
    )
if FLEET_INBOX_RETENTION_DAYS * _DAY <= _REDELIVERY_WINDOW:
    raise ImproperlyConfigured(
        f"FLEET_INBOX_RETENTION_DAYS={FLEET_INBOX_RETENTION_DAYS} must outlast the redelivery "
        f"window ({_REDELIVERY_WINDOW} s: visibility timeout, retries and order wait), or a "
        f"late copy of a delivery runs its handler twice."
    )

# The sweep stops resending an event this long after it occurred: a copy it sends may arrive
# up to the redelivery window later, and must still find the inbox rows (kept
# FLEET_INBOX_RETENTION_DAYS) that make it harmless.
FLEET_OUTBOX_RESEND_FOR_SECONDS = FLEET_INBOX_RETENTION_DAYS * _DAY - _REDELIVERY_WINDOW

# Celery's Django fixup closes every database connection before and after each task unless
# this is set, and then only every this many tasks: a new PostgreSQL connection per delivery
# cost 10-20 ms, several times the delivery itself (docs/performance.md). The platform's tasks
# module closes connections around each task the way Django does around a request instead
# (past CONN_MAX_AGE, or unusable after an error); this count is only a backstop.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)

# The outbox feeds of the other deployables (monolith.platform.outbox.feed): read every this
# many seconds by beat, in pages of this many rows. While a module is served in two places,
# this is how long an event or a row change takes to cross, at most, plus a relay.
FLEET_EVENT_PULL_SECONDS = env_int("FLEET_EVENT_PULL_SECONDS", 2)
FLEET_EVENT_FEED_PAGE = env_int("FLEET_EVENT_FEED_PAGE", 500)
# An extracted service reads the monolith's feed of its module here; unset, at the base URL
# most of FLEET_MODULE_URL_<LABEL> share (the monolith serves every module not extracted).
FLEET_MONOLITH_URL = env_str("FLEET_MONOLITH_URL", "")
if FLEET_EVENT_PULL_SECONDS < 1 or not 1 <= FLEET_EVENT_FEED_PAGE <= 5000:
    raise ImproperlyConfigured(
        "FLEET_EVENT_PULL_SECONDS must be at least 1 and FLEET_EVENT_FEED_PAGE 1 to 5000."
    )

# Feeds to read exist in a service, and in a monolith with a module's service: only there is
# the pull scheduled (elsewhere it would find nothing, every two seconds).
FLEET_EVENT_FEEDS_HERE = bool(os.environ.get("FLEET_SERVICE_MODULE") or FLEET_SERVICE_URLS)

# This file's beat entries; base.py assembles CELERY_BEAT_SCHEDULE (celery.beat_schedule).
CELERY_BEAT_EVENTS = {
    **(
        {
            "platform.events_pull": {
                "task": "platform.events_pull",
                "schedule": float(FLEET_EVENT_PULL_SECONDS),
            }
        }
        if FLEET_EVENT_FEEDS_HERE
        else {}
    ),
    # Daily, at a quiet hour: deleting is batched, but it is still work on every database.
    "platform.events_prune": {
        "task": "platform.events_prune",
        "schedule": crontab(minute=40, hour=3),
    },
}
