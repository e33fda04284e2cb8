"""Domain events between modules: types, subscriptions and publishing.

An event is a frozen dataclass named in the past tense, with a stable ``name`` and a
``version``; each module declares the ones it publishes in its ``events.py``. A module that
wants to react subscribes a handler in its ``AppConfig.ready()``.

For now ``publish`` runs the handlers inside the publisher's transaction, so an event and its
effects commit or roll back together. The outbox-and-Celery delivery replaces this function's
body without changing its callers.
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


EventT = TypeVar("EventT", bound=DomainEvent)
Handler = Callable[[Any], None]

_subscribers: dict[type[DomainEvent], list[tuple[str, Handler]]] = defaultdict(list)


def subscribe(
    event_type: type[EventT], handler: Callable[[EventT], None], *, subscriber: str
) -> None:
    """Call ``handler`` for every ``event_type`` published; ``subscriber`` names the module."""
    entry = (subscriber, handler)
    if entry not in _subscribers[event_type]:
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


def publish(event: DomainEvent) -> None:
    """Hand ``event`` to every subscriber, inside the caller's transaction."""
    logger.info(
        "event %s published",
        event.name,
        extra={"event": event.name, "event_version": event.version},
    )
    for _, handler in list(_subscribers[type(event)]):
        handler(event)
