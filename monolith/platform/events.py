"""Domain events between modules: types, subscriptions and publishing.

An event is a frozen dataclass named in the past tense, with a stable ``name`` and a
``version``; each module declares the ones it publishes in its ``events.py``. A module that
wants to react subscribes a handler in its ``AppConfig.ready()``.

``publish`` writes the event into the publishing module's outbox, in the caller's transaction;
a Celery relay hands it on after commit (a periodic sweep catches what it missed), and each
subscriber's handler runs in a task of its own, once, recorded in that subscriber's inbox
(decision 0006, ``monolith.platform.outbox``).
"""

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event type: a past-tense fact with a stable name and version."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    # The field naming what the event is about; None means the first "<thing>_id" field.
    aggregate_field: ClassVar[str | None] = None
    # The field naming the account the event concerns; None means ``rider_id`` if there is
    # one. Its handlers act for that account, so their calls into a module being extracted
    # take the same side of cohort routing as the account's own requests.
    account_field: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _event_types[cls.__dict__["name"]] = cls

    def payload(self) -> dict[str, Any]:
        """JSON-ready fields (UUIDs, decimals and datetimes as strings)."""
        return {
            field.name: _jsonable(getattr(self, field.name)) for field in dataclasses.fields(self)
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


_event_types: dict[str, type[DomainEvent]] = {}

EventT = TypeVar("EventT", bound=DomainEvent)
Handler = Callable[[Any], None]

_subscribers: dict[type[DomainEvent], list[tuple[str, Handler]]] = defaultdict(list)


def subscribe(
    event_type: type[EventT], handler: Callable[[EventT], None], *, subscriber: str
) -> None:
    """Call ``handler`` for every ``event_type`` published; ``subscriber`` names the module.

    The subscriber must be a fleet module with an ``Inbox`` (its handler's deliveries are
    recorded there) and at most one handler per event type.
    """
    from monolith.platform.registry import fleet_module

    fleet_module(subscriber)
    entry = (subscriber, handler)
    if entry in _subscribers[event_type]:
        return
    if subscriber in subscribers_of(event_type):
        raise ValueError(f"{subscriber!r} already has a handler for {event_type.name}.")
    _subscribers[event_type].append(entry)


@contextmanager
def subscriptions_only(event_type: type[DomainEvent], *subscribers: str) -> Iterator[None]:
    """Within the block, deliver ``event_type`` only to the named subscribers (for tests).

    A module's tests use it to keep other modules' reactions out of what they measure.
    """
    saved = list(_subscribers[event_type])
    _subscribers[event_type] = [entry for entry in saved if entry[0] in subscribers]
    try:
        yield
    finally:
        _subscribers[event_type] = saved


def subscribers_of(event_type: type[DomainEvent]) -> list[str]:
    return [subscriber for subscriber, _ in _subscribers[event_type]]


def event_types_subscribed(subscriber: str) -> list[type[DomainEvent]]:
    """The event types ``subscriber`` has a handler for."""
    return [
        event_type
        for event_type, entries in _subscribers.items()
        if any(name == subscriber for name, _ in entries)
    ]


def handler_of(event_type: type[DomainEvent], subscriber: str) -> Handler:
    """The handler ``subscriber`` registered for ``event_type``."""
    for name, handler in _subscribers[event_type]:
        if name == subscriber:
            return handler
    raise LookupError(f"{subscriber!r} does not subscribe to {event_type.name}.")


def event_type_named(name: str) -> type[DomainEvent]:
    """The event class whose stable ``name`` is ``name``."""
    try:
        return _event_types[name]
    except KeyError:
        raise LookupError(f"no event type is named {name!r}.") from None


def publish(event: DomainEvent) -> None:
    """Record ``event`` in its module's outbox, in the caller's transaction; subscribers get it
    after that transaction commits, each in a transaction of its own."""
    from monolith.platform.outbox.machinery import outbox_write

    event_id = outbox_write(event)
    logger.info(
        "event %s published",
        event.name,
        extra={"event": event.name, "event_version": event.version, "event_id": str(event_id)},
    )
