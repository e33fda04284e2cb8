"""Publishing into a module's outbox, relaying it, delivering it once per subscriber.

The Celery tasks (``monolith.platform.tasks``) and the in-process ``outbox_deliver_pending``
both call the functions here, so tests and the demo exercise the worker's code path.
"""

import dataclasses
import logging
import time
import types
import typing
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from monolith.platform import events
from monolith.platform.interservice.acting import acting_as
from monolith.platform.outbox.order import (
    After,
    DeliveryWaits,
    delivery_predecessors,
    order_awaited,
    order_max_wait_seconds,
    order_poll_seconds,
)
from monolith.platform.registry import fleet_modules, module_atomic, module_database

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_SWEEP_AFTER_SECONDS = 5
# Rows per relay transaction, and transactions per relay task before it hands over to a fresh
# task (so one backlog does not hold a worker process for long).
RELAY_BATCH = 500
RELAY_BATCHES_PER_RUN = 20


class Send(Protocol):
    """Hands one delivery on: to Celery in the relay task, to a list in-process.

    ``after`` is the event the delivery must wait for (order per aggregate), if any.
    """

    def __call__(
        self,
        *,
        publisher: str,
        event_id: str,
        subscriber: str,
        name: str,
        payload: dict[str, Any],
        after: After | None = None,
    ) -> None: ...


# --- the tables ----------------------------------------------------------------------------


def _module_model(label: str, model_name: str) -> Any:
    try:
        return apps.get_model(label, model_name)
    except LookupError as exc:
        raise LookupError(
            f"module {label!r} has no {model_name} model: declare it in its models.py by "
            f"subclassing monolith.platform.outbox's abstract model (decision 0006)."
        ) from exc


def outbox_table(label: str) -> Any:
    """The module's concrete ``Outbox`` model."""
    return _module_model(label, "Outbox")


def inbox_table(label: str) -> Any:
    """The module's concrete ``Inbox`` model."""
    return _module_model(label, "Inbox")


def parked_table(label: str) -> Any:
    """The module's concrete ``ParkedDelivery`` model."""
    return _module_model(label, "ParkedDelivery")


def _modules_with(model_name: str) -> list[str]:
    labels = []
    for config in fleet_modules():
        try:
            config.get_model(model_name)
        except LookupError:
            continue
        labels.append(config.label)
    return labels


def outbox_modules() -> list[str]:
    """The installed modules that have an outbox."""
    return _modules_with("Outbox")


def inbox_modules() -> list[str]:
    """The installed modules that have an inbox (and parked deliveries): the subscribers."""
    return _modules_with("Inbox")


# --- events as stored ----------------------------------------------------------------------


# Row changes of a mirrored module travel in its outbox under this name (``outbox.mirror``):
# nobody subscribes to them; other deployables read them from the feed.
ROW_CHANGED = "RowChanged"


def row_change_name(label: str) -> str:
    """The outbox name of ``label``'s row changes."""
    return f"{label}.{ROW_CHANGED}"


def is_row_change(name: str) -> bool:
    return name.rpartition(".")[2] == ROW_CHANGED


def _publisher_of(event_name: str) -> str:
    return event_name.split(".", 1)[0]


def aggregate_field_of(event_type: type[events.DomainEvent]) -> str | None:
    """The field naming what events of ``event_type`` are about (their order is kept per
    value of it): ``aggregate_field``, or by convention the first ``<thing>_id`` field."""
    field = getattr(event_type, "aggregate_field", None)
    if field is None:
        field = next(
            (f.name for f in dataclasses.fields(event_type) if f.name.endswith("_id")), None
        )
    return field


def event_account(event: events.DomainEvent) -> uuid.UUID | None:
    """The account ``event`` concerns (``account_field``, or by convention ``rider_id``)."""
    field = type(event).account_field or "rider_id"
    value = getattr(event, field, None)
    return value if isinstance(value, uuid.UUID) else None


def _aggregate_id(event: events.DomainEvent) -> str:
    field = aggregate_field_of(type(event))
    return str(getattr(event, field)) if field else ""


def _parse(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        return _parse(options[0], value) if len(options) == 1 else value
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if kind is Decimal:
        return Decimal(str(value))
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return value


_field_types_seen: dict[type[events.DomainEvent], tuple[tuple[str, Any], ...]] = {}


def _field_types(event_type: type[events.DomainEvent]) -> tuple[tuple[str, Any], ...]:
    # Resolving the annotations took half of a delivery's own CPU time when done every time.
    found = _field_types_seen.get(event_type)
    if found is None:
        hints = typing.get_type_hints(event_type)
        found = tuple((f.name, hints.get(f.name)) for f in dataclasses.fields(event_type))
        _field_types_seen[event_type] = found
    return found


def event_from_payload(name: str, payload: dict[str, Any]) -> events.DomainEvent:
    """Rebuild the event a payload was made from (``DomainEvent.payload()``'s inverse)."""
    event_type = events.event_type_named(name)
    values = {
        field: _parse(kind, payload[field])
        for field, kind in _field_types(event_type)
        if field in payload
    }
    return event_type(**values)


# --- publishing ----------------------------------------------------------------------------


def outbox_write(event: events.DomainEvent) -> uuid.UUID:
    """Write ``event`` into its publisher's outbox, in the caller's transaction on that
    module's database, and relay it once that transaction commits. Returns the event id."""
    publisher = _publisher_of(event.name)
    database = module_database(publisher)
    message = (
        outbox_table(publisher)
        .objects.using(database)
        .create(
            name=event.name,
            version=event.version,
            aggregate_id=_aggregate_id(event),
            payload=event.payload(),
            occurred_at=timezone.now(),
        )
    )
    # robust: the row is committed whatever happens to the broker; the sweep relays it later.
    transaction.on_commit(
        partial(relay_after_commit, publisher, written=(message.occurred_at, message.id)),
        using=database,
        robust=True,
    )
    return message.id


def relay_after_commit(
    publisher: str, *, written: tuple[datetime, uuid.UUID] | None = None
) -> None:
    """Queue the relay for ``publisher`` once a transaction that wrote to its outbox commits,
    unless a relay already has to take the row ``written`` (its occurred_at and id) too.

    A setting turns this off; the sweep still runs. It never raises: the transaction has
    committed, and a relay that cannot be queued now (broker or database unreachable) is the
    sweep's to make up for.
    """
    if not getattr(settings, "FLEET_OUTBOX_RELAY_AFTER_COMMIT", True):
        return
    from monolith.platform.tasks import outbox_relay

    try:
        if written is not None and _relay_covers(publisher, *written):
            return
        outbox_relay.delay(publisher)
    except Exception as exc:
        logger.warning(
            "outbox %s: relay not queued after commit (%s); the sweep will relay it",
            publisher,
            exc,
            extra={"publisher": publisher},
        )


# Whether a relay already has to take a row just committed, so none need be queued for it:
# - a relay is running (it holds the lock: the try-lock fails). After its last batch, once
#   the lock is released, it looks again and leaves what it finds to a fresh relay task:
#   whatever committed while it held the lock is taken;
# - or an older row is still waiting, while no relay runs: the relay that row's commit queued
#   (or relied on, down to an older row whose commit queued one) has not finished, so it
#   reads after this commit. Only rows younger than the sweep's age count: a row waiting
#   longer probably lost its relay (the broker was down), and the sweep is not waited for.
# Under a stream of commits this queues a relay per idle spell instead of one per commit
# (docs/performance.md). In autocommit the try-lock is released when the statement ends;
# relays wait for the lock rather than skip, so they lose nothing to it.
_RELAY_COVERS_SQL = """
SELECT NOT pg_try_advisory_xact_lock(%s, hashtext(%s)) OR EXISTS (
    SELECT 1 FROM {table}
    WHERE relayed_at IS NULL AND occurred_at > %s AND (occurred_at, id) < (%s, %s)
)
"""


def _relay_covers(publisher: str, occurred_at: datetime, event_id: uuid.UUID) -> bool:
    database = module_database(publisher)
    connection = connections[database]
    table = outbox_table(publisher)._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            _RELAY_COVERS_SQL.format(table=connection.ops.quote_name(table)),
            [_RELAY_LOCK_CLASS, table, _sweep_cutoff(), occurred_at, event_id],
        )
        return bool(cursor.fetchone()[0])


def _sweep_cutoff() -> datetime:
    """Rows that occurred before this have waited long enough for the sweep to relay them."""
    age = getattr(settings, "FLEET_OUTBOX_SWEEP_AFTER_SECONDS", DEFAULT_SWEEP_AFTER_SECONDS)
    return timezone.now() - timedelta(seconds=age)


def _waiting(publisher: str, *, older_than: datetime | None = None) -> bool:
    """Whether any of ``publisher``'s rows waits for the relay (older than ``older_than``)."""
    rows = (
        outbox_table(publisher)
        .objects.using(module_database(publisher))
        .filter(relayed_at__isnull=True)
    )
    if older_than is not None:
        rows = rows.filter(occurred_at__lt=older_than)
    return bool(rows.exists())


def outbox_published(
    label: str, event_type: type[events.EventT] | None = None
) -> list[events.EventT]:
    """The events ``label`` has published, oldest first (what its tests assert on)."""
    rows = outbox_table(label).objects.using(module_database(label)).order_by("occurred_at")
    if event_type is not None:
        rows = rows.filter(name=event_type.name)
    return [event_from_payload(row.name, row.payload) for row in rows]  # type: ignore[misc]


# --- relaying ------------------------------------------------------------------------------


def outbox_relay_run(publisher: str, *, send: Send, limit: int = RELAY_BATCH) -> int:
    """Hand ``publisher``'s unrelayed messages to ``send``, once per subscriber, and mark them.

    Relays of one outbox take turns (``_relay_lock``). A crash after sending but before the
    commit relays the rows again: delivery is at least once, and inboxes make it effectively
    once. Each delivery carries the event it must wait for (order per aggregate, ``order``).
    """
    database = module_database(publisher)
    table = outbox_table(publisher)
    with transaction.atomic(using=database):
        _relay_lock(table, database)
        waiting = (
            table.objects.using(database)
            .select_for_update(skip_locked=True)
            .filter(relayed_at__isnull=True)
            .order_by("occurred_at", "id")
        )
        messages = list(waiting[:limit])
        if not messages:
            return 0
        subscribers = _subscribers_by_name(publisher, messages)
        _deliveries_send(
            publisher, messages, subscribers, send=send, table=table, database=database
        )
        _relayed_mark(
            table,
            database,
            relayed=[m.pk for m in messages],
            # Nobody to hear from: complete already.
            completed=[m.pk for m in messages if not subscribers.get(m.name)],
        )
    return len(messages)


# One statement for the batch: relayed now, completed when nobody subscribes here, and the
# next places in the feed in relay order. Under the relay lock, so MAX(position) is this
# outbox's last place and no other relay gives out the same ones.
_RELAYED_MARK_SQL = """
UPDATE {table} AS row
SET relayed_at = %s,
    completed_at = CASE WHEN row.id = ANY(%s) THEN %s ELSE row.completed_at END,
    position = last.position + batch.place
FROM (SELECT COALESCE(MAX(position), 0) AS position FROM {table}) AS last,
     unnest(%s::uuid[]) WITH ORDINALITY AS batch(id, place)
WHERE row.id = batch.id
"""


def _relayed_mark(
    table: Any, database: str, *, relayed: Sequence[uuid.UUID], completed: Sequence[uuid.UUID]
) -> None:
    connection = connections[database]
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _RELAYED_MARK_SQL.format(table=connection.ops.quote_name(table._meta.db_table)),
            [now, list(completed), now, list(relayed)],
        )


def _deliveries_send(
    publisher: str,
    messages: Sequence[Any],
    subscribers: dict[str, list[str]],
    *,
    send: Send,
    table: Any,
    database: str,
    only: set[tuple[str, str]] | None = None,
) -> int:
    """Send each message to each of its subscribers (``only`` those (event id, subscriber)
    pairs, when given), each delivery with the event it must wait for; how many were sent."""
    afters = delivery_predecessors(publisher, messages, subscribers, table=table, database=database)
    sent = 0
    for message in messages:
        event_id = str(message.id)
        for subscriber in subscribers.get(message.name, ()):
            if only is not None and (event_id, subscriber) not in only:
                continue
            send(
                publisher=publisher,
                event_id=event_id,
                subscriber=subscriber,
                name=message.name,
                payload=message.payload,
                after=afters.get((event_id, subscriber)),
            )
            sent += 1
    return sent


# Advisory lock class for "relaying this outbox" (the other key is the table's name hash).
_RELAY_LOCK_CLASS = 0x0B0C


def _relay_lock(table: Any, database: str) -> None:
    """Relays of one outbox take turns, each for its one transaction (a batch: milliseconds).

    Each relay sends its batch before it commits, so the next relay's batch reaches the broker
    after it: deliveries enter the queue in the outbox's order. Side by side, two relays of a
    backlog interleaved their batches and made a delivery from the second wait for its
    predecessor far back in the queue, polling (docs/performance.md).
    """
    with connections[database].cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [_RELAY_LOCK_CLASS, table._meta.db_table],
        )


def _subscribers_by_name(publisher: str, messages: Iterable[Any]) -> dict[str, list[str]]:
    """The subscribers of each event name among ``messages`` (none for an unknown name)."""
    subscribers: dict[str, list[str]] = {}
    for message in messages:
        if message.name in subscribers:
            continue
        if is_row_change(message.name):
            subscribers[message.name] = []
            continue
        try:
            event_type = events.event_type_named(message.name)
        except LookupError:
            logger.error("outbox %s: unknown event %s", publisher, message.name)
            subscribers[message.name] = []
            continue
        subscribers[message.name] = events.subscribers_of(event_type)
    return subscribers


def outbox_relay_drain(
    publisher: str, *, send: Send, limit: int = RELAY_BATCH, batches: int = RELAY_BATCHES_PER_RUN
) -> tuple[int, bool]:
    """Relay full batches one after another (each its own transaction), up to ``batches``:
    (rows relayed, whether rows are still waiting, for a relay task of their own).

    After the last batch, with the lock released, it looks once more: a commit made while
    the lock was held queued no relay and counts on this one (``_relay_covers``). What it
    finds is left to a fresh task rather than relayed here at once: under a stream of
    commits that gathers them into one batch per turn of the queue, instead of a relay that
    keeps a worker process polling.
    """
    total = 0
    for _ in range(batches):
        relayed = outbox_relay_run(publisher, send=send, limit=limit)
        total += relayed
        if relayed < limit:
            return total, _waiting(publisher)
    return total, True


def outbox_sweep_run(*, send: Send, modules: Iterable[str] | None = None) -> dict[str, bool]:
    """Relay what the after-commit relay missed (broker down, process killed), everywhere:
    each outbox with a row waiting longer than ``FLEET_OUTBOX_SWEEP_AFTER_SECONDS`` is drained.
    Then send again the deliveries lost after their relay (``outbox_resend_run``).
    Returns, per outbox drained, whether rows are still waiting (for a relay task)."""
    cutoff = _sweep_cutoff()
    drained = {}
    labels = list(modules) if modules is not None else outbox_modules()
    for label in labels:
        if _waiting(label, older_than=cutoff):
            drained[label] = outbox_relay_drain(label, send=send)[1]
    for label in labels:
        outbox_resend_run(label, send=send)
    return drained


@dataclasses.dataclass
class Resent:
    """What one resend pass over an outbox did."""

    checked: int = 0
    completed: int = 0
    resent: int = 0


def outbox_resend_run(
    publisher: str, *, send: Send, limit: int = RELAY_BATCH, batches: int = RELAY_BATCHES_PER_RUN
) -> Resent:
    """Send again each delivery relayed ``FLEET_OUTBOX_RESEND_AFTER_SECONDS`` ago or more that
    its subscriber has neither handled (its inbox) nor parked; mark completed the events every
    subscriber has.

    A broker may lose a message after taking it off the queue: Redis hands it to a worker with
    BRPOP, and a worker killed before it records the message as unacknowledged takes it with
    it. The relay cannot know; only the subscribers' inboxes can. A copy of a delivery that was
    only slow is harmless (the inbox), so the window is about wasted work, not correctness.
    A subscriber not installed in this deployable is not checked (its inbox is elsewhere).
    """
    result = Resent()
    for _ in range(batches):
        checked = _resend_batch(publisher, send=send, limit=limit, result=result)
        if checked < limit:
            break
    if result.resent:
        logger.warning(
            "outbox %s: %s deliveries relayed but never handled, sent again",
            publisher,
            result.resent,
            extra={"publisher": publisher, "resent": result.resent},
        )
    return result


def _resend_batch(publisher: str, *, send: Send, limit: int, result: Resent) -> int:
    database = module_database(publisher)
    table = outbox_table(publisher)
    now = timezone.now()
    after_seconds = settings.FLEET_OUTBOX_RESEND_AFTER_SECONDS
    for_seconds = settings.FLEET_OUTBOX_RESEND_FOR_SECONDS
    with transaction.atomic(using=database):
        unfinished = (
            table.objects.using(database)
            .select_for_update(skip_locked=True)
            .filter(
                relayed_at__isnull=False,
                completed_at__isnull=True,
                relayed_at__lt=now - timedelta(seconds=after_seconds),
                # Older copies could outlive the inbox rows that make them harmless.
                occurred_at__gte=now - timedelta(seconds=for_seconds),
            )
            .order_by("occurred_at", "id")
        )
        messages = list(unfinished[:limit])
        if not messages:
            return 0
        subscribers = _subscribers_by_name(publisher, messages)
        missing = _deliveries_missing(messages, subscribers)
        lost = [m for m in messages if any((str(m.id), s) in missing for s in subscribers[m.name])]
        lost_ids = {m.pk for m in lost}
        if lost:
            result.resent += _deliveries_send(
                publisher,
                lost,
                subscribers,
                send=send,
                table=table,
                database=database,
                only=missing,
            )
            # The window starts again for what was sent again.
            table.objects.using(database).filter(pk__in=lost_ids).update(relayed_at=now)
        done = [m.pk for m in messages if m.pk not in lost_ids]
        table.objects.using(database).filter(pk__in=done).update(completed_at=now)
        result.checked += len(messages)
        result.completed += len(done)
    return len(messages)


def _deliveries_missing(
    messages: Sequence[Any], subscribers: dict[str, list[str]]
) -> set[tuple[str, str]]:
    """The (event id, subscriber) pairs among ``messages`` that the subscriber's inbox does
    not hold and that are not parked (parked and retried counts as missing: the retry's
    delivery can be lost too)."""
    wanted: dict[str, list[Any]] = {}
    for message in messages:
        for subscriber in subscribers.get(message.name, ()):
            wanted.setdefault(subscriber, []).append(message.id)
    missing: set[tuple[str, str]] = set()
    for subscriber, event_ids in wanted.items():
        try:
            inbox = inbox_table(subscriber)
            parked = parked_table(subscriber)
        except LookupError:
            continue  # served by another deployable, which checks its own
        database = module_database(subscriber)
        seen = set(
            inbox.objects.using(database)
            .filter(subscriber=subscriber, event_id__in=event_ids)
            .values_list("event_id", flat=True)
        )
        seen.update(
            parked.objects.using(database)
            .filter(subscriber=subscriber, event_id__in=event_ids, retried_at__isnull=True)
            .values_list("event_id", flat=True)
        )
        missing.update((str(e), subscriber) for e in event_ids if e not in seen)
    return missing


# --- delivering ----------------------------------------------------------------------------


def event_deliver(
    *,
    publisher: str,
    event_id: str,
    subscriber: str,
    name: str,
    payload: dict[str, Any],
    after: After | None = None,
) -> bool:
    """Run ``subscriber``'s handler for the event once: False if its inbox says it already did.

    The handler's effect and the inbox row commit together in the subscriber's transaction.
    With ``after`` (the aggregate's previous event for this subscriber), raises
    ``DeliveryWaits`` until the inbox holds that one, so an aggregate's events are handled in
    the order they were published.
    """
    event = event_from_payload(name, payload)
    handler = events.handler_of(type(event), subscriber)
    inbox = inbox_table(subscriber)
    database = module_database(subscriber)
    awaited = order_awaited(after)
    with module_atomic(subscriber):
        # The inbox row first: a redelivery finds it and stops here, and a concurrent
        # duplicate waits on its unique key until this transaction ends, then stops too.
        claimed, predecessor_processed = _inbox_claim(
            inbox, database, event_id=event_id, subscriber=subscriber, awaited=awaited
        )
        if not claimed:
            return False
        if after and awaited and not predecessor_processed:
            # Rolls back the claim: the delivery comes again once its predecessor is in.
            raise DeliveryWaits(
                subscriber=subscriber, after=after, parked=_parked(subscriber, awaited)
            )
        # Imported here: the mirror is built on this module's tables and functions.
        from monolith.platform.outbox.mirror import copy_behind

        behind = copy_behind(subscriber, publisher=publisher, event_id=event_id)
        if behind is not None:
            raise behind  # rolls back the claim too; comes again once the copy is read
        with acting_as(event_account(event)):
            handler(event)
    return True


# One statement, one round trip: claim the inbox row (INSERT ... ON CONFLICT DO NOTHING, which
# has no ORM spelling that says whether a row went in) and look for the predecessor's.
_INBOX_CLAIM_SQL = """
WITH claim AS (
    INSERT INTO {table} (event_id, subscriber, processed_at) VALUES (%s, %s, %s)
    ON CONFLICT (event_id, subscriber) DO NOTHING
    RETURNING id
)
SELECT
    EXISTS (SELECT 1 FROM claim),
    EXISTS (SELECT 1 FROM {table} WHERE event_id = %s AND subscriber = %s)
"""


def _inbox_claim(
    inbox: Any, database: str, *, event_id: str, subscriber: str, awaited: str | None
) -> tuple[bool, bool]:
    """Write the inbox row for ``event_id``: (whether it went in, False if it was there
    already; whether the inbox holds ``awaited``)."""
    connection = connections[database]
    sql = _INBOX_CLAIM_SQL.format(table=connection.ops.quote_name(inbox._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                uuid.UUID(event_id),
                subscriber,
                timezone.now(),
                uuid.UUID(awaited) if awaited else None,
                subscriber,
            ],
        )
        claimed, processed = cursor.fetchone()
    return bool(claimed), bool(processed)


def delivery_max_attempts() -> int:
    return int(getattr(settings, "FLEET_EVENT_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def delivery_backoff_seconds(attempt: int) -> int:
    """Seconds before retry number ``attempt`` (1, 2, ...): doubling, capped by the platform's
    longest task delay."""
    cap = int(getattr(settings, "FLEET_TASK_MAX_DELAY_SECONDS", 600))
    return int(min(cap, 2 ** max(attempt - 1, 0)))


def _parked(subscriber: str, event_id: str) -> bool:
    """Whether the delivery of ``event_id`` to ``subscriber`` is parked and not retried."""
    return (
        parked_table(subscriber)
        .objects.using(module_database(subscriber))
        .filter(event_id=event_id, subscriber=subscriber, retried_at__isnull=True)
        .exists()
    )


def delivery_wait(waits: DeliveryWaits, *, waiting_since: float) -> float | None:
    """Seconds until a waiting delivery looks again, or None: park it now.

    It is parked at once when its predecessor is parked (nothing will change until staff
    retry that one), and once it has waited ``FLEET_EVENT_ORDER_MAX_WAIT_SECONDS``.
    ``waiting_since`` is the epoch time of its first wait.
    """
    waited = max(0.0, time.time() - waiting_since)
    if waits.parked or waited >= order_max_wait_seconds():
        return None
    return order_poll_seconds(waited)


def delivery_park(
    *,
    publisher: str,
    event_id: str,
    subscriber: str,
    name: str,
    payload: dict[str, Any],
    attempts: int,
    error: BaseException,
    after: After | None = None,
) -> Any:
    """Record a delivery that failed ``attempts`` times, in the subscriber's database."""
    parked, _ = (
        parked_table(subscriber)
        .objects.using(module_database(subscriber))
        .update_or_create(
            event_id=event_id,
            subscriber=subscriber,
            defaults={
                "event_name": name,
                "publisher": publisher,
                "payload": payload,
                "attempts": attempts,
                "last_error": f"{type(error).__name__}: {error}",
                "parked_at": timezone.now(),
                "retried_at": None,
            },
        )
    )
    logger.error(
        "delivery of %s %s to %s parked after %s attempts: %s",
        name,
        event_id,
        subscriber,
        attempts,
        error,
        extra={"event": name, "event_id": event_id, "subscriber": subscriber},
    )
    return parked


def _deliver_args(
    publisher: str, event_id: str, subscriber: str, name: str, payload: dict[str, Any]
) -> tuple[Any, ...]:
    return (publisher, event_id, subscriber, name, payload)


def delivery_send(
    *,
    publisher: str,
    event_id: str,
    subscriber: str,
    name: str,
    payload: dict[str, Any],
    after: After | None = None,
    producer: Any = None,
) -> None:
    """Queue one delivery as a ``platform.deliver`` task (through ``producer`` if given)."""
    from monolith.platform.tasks import deliver

    # Without a predecessor the message is exactly what workers before order per aggregate
    # understood.
    deliver.apply_async(
        _deliver_args(publisher, event_id, subscriber, name, payload),
        {"after": after} if after else None,
        producer=producer,
    )


@contextmanager
def delivery_sender() -> Iterator[Send]:
    """A ``send`` that queues ``platform.deliver`` tasks through one broker producer.

    A relay batch sends hundreds of messages: one connection and channel for all of them
    instead of one checkout of the pool per message.
    """
    from monolith.platform.tasks import deliver

    with deliver.app.producer_or_acquire() as producer:
        yield partial(delivery_send, producer=producer)


def delivery_predecessor(*, publisher: str, event_id: str, subscriber: str) -> After | None:
    """The event a delivery of ``event_id`` must wait for, read from the publisher's outbox.

    None when the outbox row is gone (pruned) or the publisher is not installed here.
    """
    try:
        table = outbox_table(publisher)
    except LookupError:
        return None
    database = module_database(publisher)
    message = table.objects.using(database).filter(pk=event_id).first()
    if message is None:
        return None
    afters = delivery_predecessors(
        publisher, [message], {message.name: [subscriber]}, table=table, database=database
    )
    return afters.get((str(message.id), subscriber))


def parked_deliveries_retry(subscriber: str, parked: Iterable[Any]) -> int:
    """Send parked deliveries again (with fresh attempts) once this transaction commits.

    Each keeps its place in its aggregate's order: its predecessor is looked up again, so
    parked deliveries of one aggregate retried together are handled oldest first.
    """
    database = module_database(subscriber)
    count = 0
    with module_atomic(subscriber):
        for row in parked:
            row.retried_at = timezone.now()
            row.save(using=database, update_fields=["retried_at"])
            transaction.on_commit(
                partial(
                    delivery_send,
                    publisher=row.publisher,
                    event_id=str(row.event_id),
                    subscriber=row.subscriber,
                    name=row.event_name,
                    payload=row.payload,
                    after=delivery_predecessor(
                        publisher=row.publisher,
                        event_id=str(row.event_id),
                        subscriber=row.subscriber,
                    ),
                ),
                using=database,
            )
            count += 1
    return count


def outbox_deliver_pending(modules: Iterable[str] | None = None) -> int:
    """Relay and deliver every waiting message now, in this process (tests, the demo).

    The same relay and delivery functions as the worker's tasks; a failing handler raises
    here instead of being retried. Deliveries run in relay order, which keeps each
    aggregate's order; one whose predecessor was relayed elsewhere and is still not processed
    is tried again after the others, and raises ``DeliveryWaits`` if that changes nothing.
    Returns how many deliveries had an effect.
    """
    labels = list(modules) if modules is not None else outbox_modules()
    delivered = 0
    queued: list[dict[str, Any]] = []

    def collect(**delivery: Any) -> None:
        queued.append(delivery)

    while True:
        queued.clear()
        relayed = sum(outbox_relay_run(label, send=collect) for label in labels)
        waiting = list(queued)
        while waiting:
            blocked: list[tuple[dict[str, Any], DeliveryWaits]] = []
            for delivery in waiting:
                try:
                    delivered += event_deliver(**delivery)
                except DeliveryWaits as waits:
                    blocked.append((delivery, waits))
            if len(blocked) == len(waiting):
                raise blocked[0][1]
            waiting = [delivery for delivery, _ in blocked]
        # A handler may publish in turn; stop once nothing new was waiting.
        if not relayed:
            return delivered
