"""Publishing into a module's outbox, relaying it, delivering it once per subscriber.

The Celery tasks (``monolith.platform.tasks``) and the in-process ``outbox_deliver_pending``
both call the functions here, so tests and the demo exercise the worker's code path.
"""

import dataclasses
import logging
import types
import typing
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monolith.platform import events
from monolith.platform.registry import fleet_modules, module_atomic, module_database

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_SWEEP_AFTER_SECONDS = 5


class Send(Protocol):
    """Hands one delivery on: to Celery in the relay task, to a list in-process."""

    def __call__(
        self, *, publisher: str, event_id: str, subscriber: str, name: str, payload: dict[str, Any]
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


def outbox_modules() -> list[str]:
    """The installed modules that have an outbox."""
    labels = []
    for config in fleet_modules():
        try:
            config.get_model("Outbox")
        except LookupError:
            continue
        labels.append(config.label)
    return labels


# --- events as stored ----------------------------------------------------------------------


def _publisher_of(event_name: str) -> str:
    return event_name.split(".", 1)[0]


def _aggregate_id(event: events.DomainEvent) -> str:
    field = getattr(type(event), "aggregate_field", None)
    if field is None:
        # By convention the first "<thing>_id" field names what the event is about.
        field = next((f.name for f in dataclasses.fields(event) if f.name.endswith("_id")), None)
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


def event_from_payload(name: str, payload: dict[str, Any]) -> events.DomainEvent:
    """Rebuild the event a payload was made from (``DomainEvent.payload()``'s inverse)."""
    event_type = events.event_type_named(name)
    hints = typing.get_type_hints(event_type)
    values = {
        field.name: _parse(hints.get(field.name), payload[field.name])
        for field in dataclasses.fields(event_type)
        if field.name in payload
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
    transaction.on_commit(partial(relay_after_commit, publisher), using=database, robust=True)
    return message.id


def relay_after_commit(publisher: str) -> None:
    """Queue the relay for ``publisher`` (a setting turns this off; the sweep still runs)."""
    if not getattr(settings, "FLEET_OUTBOX_RELAY_AFTER_COMMIT", True):
        return
    from monolith.platform.tasks import outbox_relay

    outbox_relay.delay(publisher)


def outbox_published(
    label: str, event_type: type[events.EventT] | None = None
) -> list[events.EventT]:
    """The events ``label`` has published, oldest first (what its tests assert on)."""
    rows = outbox_table(label).objects.using(module_database(label)).order_by("occurred_at")
    if event_type is not None:
        rows = rows.filter(name=event_type.name)
    return [event_from_payload(row.name, row.payload) for row in rows]  # type: ignore[misc]


# --- relaying ------------------------------------------------------------------------------


def outbox_relay_run(
    publisher: str, *, send: Send, older_than: datetime | None = None, limit: int = 500
) -> int:
    """Hand ``publisher``'s unrelayed messages to ``send``, once per subscriber, and mark them.

    Concurrent relays skip each other's rows. A crash after sending but before the commit
    relays the rows again: delivery is at least once, and inboxes make it effectively once.
    """
    database = module_database(publisher)
    table = outbox_table(publisher)
    with transaction.atomic(using=database):
        waiting = (
            table.objects.using(database)
            .select_for_update(skip_locked=True)
            .filter(relayed_at__isnull=True)
            .order_by("occurred_at")
        )
        if older_than is not None:
            waiting = waiting.filter(occurred_at__lt=older_than)
        messages = list(waiting[:limit])
        for message in messages:
            try:
                event_type = events.event_type_named(message.name)
            except LookupError:
                logger.error("outbox %s: unknown event %s", publisher, message.name)
                continue
            for subscriber in events.subscribers_of(event_type):
                send(
                    publisher=publisher,
                    event_id=str(message.id),
                    subscriber=subscriber,
                    name=message.name,
                    payload=message.payload,
                )
        relayed = [message.pk for message in messages]
        table.objects.using(database).filter(pk__in=relayed).update(relayed_at=timezone.now())
    return len(messages)


def outbox_sweep_run(*, send: Send, modules: Iterable[str] | None = None) -> int:
    """Relay what the after-commit relay missed (broker down, process killed), everywhere."""
    age = getattr(settings, "FLEET_OUTBOX_SWEEP_AFTER_SECONDS", DEFAULT_SWEEP_AFTER_SECONDS)
    cutoff = timezone.now() - timedelta(seconds=age)
    return sum(
        outbox_relay_run(label, send=send, older_than=cutoff)
        for label in (modules if modules is not None else outbox_modules())
    )


# --- delivering ----------------------------------------------------------------------------


def event_deliver(
    *, publisher: str, event_id: str, subscriber: str, name: str, payload: dict[str, Any]
) -> bool:
    """Run ``subscriber``'s handler for the event once: False if its inbox says it already did.

    The handler's effect and the inbox row commit together in the subscriber's transaction.
    """
    event = event_from_payload(name, payload)
    handler = events.handler_of(type(event), subscriber)
    inbox = inbox_table(subscriber)
    database = module_database(subscriber)
    with module_atomic(subscriber):
        if inbox.objects.using(database).filter(event_id=event_id, subscriber=subscriber).exists():
            return False
        handler(event)
        # A concurrent duplicate fails here on the unique constraint and rolls back its effect.
        inbox.objects.using(database).create(event_id=event_id, subscriber=subscriber)
    return True


def delivery_max_attempts() -> int:
    return int(getattr(settings, "FLEET_EVENT_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def delivery_backoff_seconds(attempt: int) -> int:
    """Seconds before retry number ``attempt`` (1, 2, ...): doubling, capped by the platform's
    longest task delay."""
    cap = int(getattr(settings, "FLEET_TASK_MAX_DELAY_SECONDS", 600))
    return int(min(cap, 2 ** max(attempt - 1, 0)))


def delivery_park(
    *,
    publisher: str,
    event_id: str,
    subscriber: str,
    name: str,
    payload: dict[str, Any],
    attempts: int,
    error: BaseException,
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


def delivery_send(
    *, publisher: str, event_id: str, subscriber: str, name: str, payload: dict[str, Any]
) -> None:
    """Queue one delivery as a ``platform.deliver`` task."""
    from monolith.platform.tasks import deliver

    deliver.delay(publisher, event_id, subscriber, name, payload)


def parked_deliveries_retry(subscriber: str, parked: Iterable[Any]) -> int:
    """Send parked deliveries again (with fresh attempts) once this transaction commits."""
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
                ),
                using=database,
            )
            count += 1
    return count


def outbox_deliver_pending(modules: Iterable[str] | None = None) -> int:
    """Relay and deliver every waiting message now, in this process (tests, the demo).

    The same relay and delivery functions as the worker's tasks; a failing handler raises
    here instead of being retried. Returns how many deliveries had an effect.
    """
    labels = list(modules) if modules is not None else outbox_modules()
    delivered = 0
    queued: list[dict[str, Any]] = []

    def collect(**delivery: Any) -> None:
        queued.append(delivery)

    while True:
        queued.clear()
        relayed = sum(outbox_relay_run(label, send=collect) for label in labels)
        for delivery in list(queued):
            delivered += event_deliver(**delivery)
        # A handler may publish in turn; stop once nothing new was waiting.
        if not relayed:
            return delivered
