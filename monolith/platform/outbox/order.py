"""Order per aggregate: each delivery names the event it must wait for (decision 0006).

Deliveries are one Celery task per (event, subscriber) and several worker processes run them
at once, so the broker's order is no promise. The relay therefore attaches to each delivery
its *predecessor*: the latest earlier event of the same aggregate, in the same publisher's
outbox, among the event types that subscriber handles. The consumer looks the predecessor up
in its inbox and, until it finds it there, waits (``DeliveryWaits``); the task re-queues
itself with a short countdown, and parks the delivery if the wait grows too long.

A predecessor is given as ``After``, a small JSON-ready dict, because it travels inside the
``platform.deliver`` message.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db import connections
from django.utils import timezone

from monolith.platform import events

DEFAULT_INBOX_RETENTION_DAYS = 14
DEFAULT_MAX_WAIT_SECONDS = 1200
# A waiting delivery looks again after about as long as it has waited so far (0.05 s, 0.1 s,
# 0.2 s...), capped: a predecessor being handled right now is seen within milliseconds, one
# that is being retried is not polled many times a second.
POLL_MIN_SECONDS = 0.05
POLL_MAX_SECONDS = 2.0


class After(TypedDict):
    """The event a delivery waits for: its id, name and when it occurred."""

    event_id: str
    name: str
    occurred_at: str


class DeliveryWaits(Exception):
    """The delivery's predecessor is not processed by its subscriber yet."""

    def __init__(self, *, subscriber: str, after: After, parked: bool = False) -> None:
        self.subscriber = subscriber
        self.after = after
        self.parked = parked
        state = "is parked" if parked else "is not processed yet"
        super().__init__(
            f"waits for {after['name']} {after['event_id']} (occurred at "
            f"{after['occurred_at']}), which {state} by {subscriber}: order per aggregate"
        )


def inbox_retention() -> timedelta:
    return timedelta(
        days=int(getattr(settings, "FLEET_INBOX_RETENTION_DAYS", DEFAULT_INBOX_RETENTION_DAYS))
    )


def order_max_wait_seconds() -> float:
    return float(getattr(settings, "FLEET_EVENT_ORDER_MAX_WAIT_SECONDS", DEFAULT_MAX_WAIT_SECONDS))


def order_awaited(after: After | None) -> str | None:
    """The event id to look for in the inbox before handling, or None: nothing to wait for.

    A predecessor that occurred longer ago than the inbox retention is not waited for: its
    inbox row may have been pruned, and it cannot still be in flight (the retention outlasts
    every retry, wait and redelivery; settings refuse a shorter one).
    """
    if not after:
        return None
    if datetime.fromisoformat(after["occurred_at"]) < timezone.now() - inbox_retention():
        return None
    return after["event_id"]


def order_poll_seconds(waited_seconds: float) -> float:
    """The countdown before a waiting delivery looks at its subscriber's inbox again."""
    return min(POLL_MAX_SECONDS, max(POLL_MIN_SECONDS, waited_seconds))


def _after(message: Any) -> After:
    return {
        "event_id": str(message.id),
        "name": message.name,
        "occurred_at": message.occurred_at.isoformat(),
    }


def _subscribed_names(subscriber: str, publisher: str) -> frozenset[str]:
    prefix = f"{publisher}."
    return frozenset(
        event_type.name
        for event_type in events.event_types_subscribed(subscriber)
        if event_type.name.startswith(prefix)
    )


# The predecessor of each (aggregate, subscriber) that the batch does not hold itself, one
# statement for the whole batch: for each wanted row, the latest earlier outbox row of that
# aggregate among the subscriber's event names (the (aggregate_id, occurred_at) index, read
# backwards, LIMIT 1). LATERAL has no ORM spelling; names are comma-joined because PostgreSQL
# arrays cannot be ragged ("trips.TripCompleted" holds no comma).
_PREDECESSORS_SQL = """
SELECT wanted.n, earlier.id, earlier.name, earlier.occurred_at
FROM unnest(%s::int[], %s::text[], %s::timestamptz[], %s::uuid[], %s::text[])
     AS wanted(n, aggregate_id, before_at, before_id, names)
CROSS JOIN LATERAL (
    SELECT outbox.id, outbox.name, outbox.occurred_at
    FROM {table} AS outbox
    WHERE outbox.aggregate_id = wanted.aggregate_id
      AND outbox.name = ANY(string_to_array(wanted.names, ','))
      AND outbox.occurred_at <= wanted.before_at
      AND (outbox.occurred_at, outbox.id) < (wanted.before_at, wanted.before_id)
    ORDER BY outbox.occurred_at DESC, outbox.id DESC
    LIMIT 1
) AS earlier
"""


def delivery_predecessors(
    publisher: str,
    messages: Sequence[Any],
    subscribers: dict[str, list[str]],
    *,
    table: Any,
    database: str,
) -> dict[tuple[str, str], After]:
    """For each (event id, subscriber) to be sent, the event that delivery must wait for.

    ``messages`` are outbox rows in order (occurred_at, id); ``subscribers`` maps each event
    name to the modules it goes to. An event without an aggregate id, or the first of its
    aggregate for that subscriber, has no entry. Inside the batch the previous row is
    remembered; for the first row of each (aggregate, subscriber) one query finds them all.
    """
    found: dict[tuple[str, str], After] = {}
    latest: dict[tuple[str, str], Any] = {}
    wanted: list[tuple[str, str, Any, frozenset[str]]] = []
    names_of: dict[str, frozenset[str]] = {}
    for message in messages:
        if not message.aggregate_id:
            continue
        for subscriber in subscribers.get(message.name, ()):
            names = names_of.get(subscriber)
            if names is None:
                names = names_of[subscriber] = _subscribed_names(subscriber, publisher)
            key = (message.aggregate_id, subscriber)
            if key in latest:
                found[(str(message.id), subscriber)] = _after(latest[key])
            else:
                wanted.append((str(message.id), subscriber, message, names))
            latest[key] = message
    if not wanted:
        return found
    connection = connections[database]
    sql = _PREDECESSORS_SQL.format(table=connection.ops.quote_name(table._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                list(range(len(wanted))),
                [message.aggregate_id for _, _, message, _ in wanted],
                [message.occurred_at for _, _, message, _ in wanted],
                [message.id for _, _, message, _ in wanted],
                [",".join(sorted(names)) for _, _, _, names in wanted],
            ],
        )
        for index, event_id, name, occurred_at in cursor.fetchall():
            message_id, subscriber, _, _ = wanted[index]
            found[(message_id, subscriber)] = {
                "event_id": str(event_id),
                "name": name,
                "occurred_at": occurred_at.isoformat(),
            }
    return found
