"""The outbox feed: events and row changes crossing between deployables.

Each deployable's relay numbers its outbox rows as it relays them (``position``, under the
relay lock, so in commit order). Another deployable reads them by number over the signed
internal path, ``GET /internal/v1/feed/<module>?after=N``, and keeps how far it has read
(``FeedPosition``) in the transaction that takes the page in. Nothing is reported back: a
reader that stops reads on from its own number later, and the publisher keeps rows for the
outbox retention (``FLEET_OUTBOX_RETENTION_DAYS``).

Who reads what (decision 0011):

- **The monolith** reads every service's feed: its events, which go into the monolith's own
  outbox of that module (``origin`` naming the service) and are delivered to the monolith's
  subscribers by its relay, like an event published here (order per aggregate, inboxes,
  resends unchanged); and its row changes (``outbox.mirror``), applied to the monolith's copy.
- **A service** reads the monolith's feed of the module it serves, row changes only.

So the reactions to events run in the monolith, which serves every module and holds a copy
of every service's data: a cohort rider's ``TripCompleted``, published in the trips service,
is invoiced by billing in the monolith; a ``VehicleWentOffline`` interrupts the trip in the
monolith's copy, and the change reaches the service as a row change. Each event is handled
once, in one place.
"""

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monolith.platform import events
from monolith.platform.interservice.client import remote_feed_read
from monolith.platform.models import FeedPosition
from monolith.platform.outbox.machinery import (
    delivery_sender,
    is_row_change,
    outbox_relay_drain,
    outbox_table,
    relay_after_commit,
    row_change_name,
)
from monolith.platform.outbox.mirror import RowChangeRefused, row_changes_apply
from monolith.platform.registry import fleet_modules, module_database

logger = logging.getLogger("fleet.feed")

EVENTS = "events"
ROWS = "rows"
KINDS = frozenset({EVENTS, ROWS})
DEFAULT_PAGE = 500
DEFAULT_PAGES_PER_PULL = 20


class FeedRefused(Exception):
    """A feed request or page this deployable cannot serve or take in; one line to show.
    ``status``: how the feed's endpoint answers it."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- serving -------------------------------------------------------------------------------


def feed_page(publisher: str, *, after: int, limit: int, kinds: Iterable[str]) -> dict[str, Any]:
    """Rows of ``publisher``'s outbox published here, after place ``after``, in order.

    ``until`` is the place the reader stands at once it has taken the page: the last row's
    place, or, when the page is not full, the outbox's last place, past rows of kinds not
    asked for (every place up to it is committed: places are given in commit order).
    ``complete``: the page holds everything committed before the request came.
    """
    wanted = frozenset(kinds)
    if not wanted or not wanted <= KINDS:
        raise FeedRefused(f"kinds must be among {', '.join(sorted(KINDS))}")
    if publisher not in {config.label for config in fleet_modules()}:
        raise FeedRefused(f"this deployable does not serve {publisher}", status=404)
    table = outbox_table(publisher)
    database = module_database(publisher)
    complete = _relay_waiting(publisher)
    with transaction.atomic(using=database):
        rows = table.objects.using(database)
        last = (
            rows.filter(position__isnull=False)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
            or 0
        )
        page = rows.filter(origin="", position__gt=after, position__lte=last)
        if wanted == {ROWS}:
            page = page.filter(name=row_change_name(publisher))
        elif wanted == {EVENTS}:
            page = page.exclude(name=row_change_name(publisher))
        found = list(
            page.order_by("position").values(
                "position", "id", "name", "version", "aggregate_id", "payload", "occurred_at"
            )[:limit]
        )
    full = len(found) == limit
    return {
        "deployable": settings.FLEET_DEPLOYABLE_NAME,
        "publisher": publisher,
        "until": found[-1]["position"] if full else max(last, after),
        # Whether this page reaches everything committed before it was asked for.
        "complete": complete and not full,
        "rows": [
            {**row, "id": str(row["id"]), "occurred_at": row["occurred_at"].isoformat()}
            for row in found
        ],
    }


def _relay_waiting(publisher: str) -> bool:
    """Relay what waits first (row changes written by a trigger queue no relay of their own,
    and a place is given only by the relay); whether nothing committed is left unplaced.

    A reader told it reached the end must have everything committed before it asked
    (``CopyBehind`` counts on it): with the relay failing or a backlog left, the page says it
    is not complete, and the reader takes it without counting itself caught up.
    """
    try:
        with delivery_sender() as send:
            return not outbox_relay_drain(publisher, send=send)[1]
    except Exception as exc:
        logger.warning("feed %s: relay before reading failed (%s)", publisher, exc)
        return False


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSource:
    """One feed this deployable reads: ``publisher``'s outbox at ``base_url``."""

    base_url: str
    publisher: str
    kinds: frozenset[str]


def feed_sources() -> list[FeedSource]:
    """The feeds this deployable reads (see the module's docstring)."""
    served_here: str = getattr(settings, "FLEET_SERVICE_MODULE", "")
    if served_here:
        monolith = monolith_url()
        return [FeedSource(monolith, served_here, frozenset({ROWS}))] if monolith else []
    service_urls: dict[str, str] = getattr(settings, "FLEET_SERVICE_URLS", {})
    local = {config.label for config in fleet_modules()}
    return [
        FeedSource(url, label, KINDS)
        for label, url in sorted(service_urls.items())
        if label in local
    ]


def monolith_url() -> str:
    """Where a service finds the monolith: ``FLEET_MONOLITH_URL``, or else the base URL most
    of the other modules have (the monolith serves every module not extracted)."""
    configured: str = getattr(settings, "FLEET_MONOLITH_URL", "")
    if configured:
        return configured.rstrip("/")
    urls = Counter(getattr(settings, "FLEET_MODULE_URLS", {}).values())
    return urls.most_common(1)[0][0] if urls else ""


@dataclass
class Pulled:
    """What reading one feed took in."""

    source: FeedSource
    received: int = 0
    applied: int = 0
    skipped: int = 0
    position: int = 0
    error: str = ""


def feed_pull(
    source: FeedSource,
    *,
    limit: int | None = None,
    pages: int = DEFAULT_PAGES_PER_PULL,
) -> Pulled:
    """Read ``source`` from where this deployable stands, a page per transaction, until it is
    caught up or ``pages`` were read. Raises ``ModuleUnavailable`` when the source does not
    answer and ``FeedRefused`` when a page cannot be taken in (nothing of it is then)."""
    limit = limit or int(getattr(settings, "FLEET_EVENT_FEED_PAGE", DEFAULT_PAGE))
    pulled = Pulled(source)
    database = module_database(source.publisher)
    for _ in range(pages):
        after = _position(source, database)
        asked_at = timezone.now()
        page = remote_feed_read(
            source.base_url, source.publisher, after=after, limit=limit, kinds=source.kinds
        )
        # A complete page reached the end: everything the other side committed before it was
        # asked is here once it is taken. A full one is read on from.
        caught_up = bool(page.get("complete"))
        full = len(page.get("rows") or []) >= limit
        taken = _page_take(
            source,
            database,
            page,
            after=after,
            pulled=pulled,
            caught_up_at=asked_at if caught_up else None,
        )
        if not taken:
            continue  # another reader took this page meanwhile: read on from its place
        if not full:
            break
    pulled.position = _position(source, database)
    return pulled


def _position(source: FeedSource, database: str) -> int:
    found = (
        FeedPosition.objects.using(database)
        .filter(source=source.base_url, publisher=source.publisher)
        .values_list("position", flat=True)
        .first()
    )
    return found or 0


def _page_take(
    source: FeedSource,
    database: str,
    page: dict[str, Any],
    *,
    after: int,
    pulled: Pulled,
    caught_up_at: datetime | None,
) -> bool:
    """Take one page in, in one transaction with the new place; False if the place moved."""
    origin = str(page.get("deployable") or source.base_url)[:64]
    with transaction.atomic(using=database):
        place, _ = (
            FeedPosition.objects.using(database)
            .select_for_update()
            .get_or_create(source=source.base_url, publisher=source.publisher)
        )
        if place.position != after:
            return False
        changes, received = [], []
        for row in page.get("rows") or []:
            if is_row_change(row["name"]):
                if ROWS in source.kinds:
                    changes.append(row["payload"])
                continue
            if EVENTS in source.kinds and _subscribed_here(row["name"]):
                received.append(_received(source.publisher, row, origin))
            else:
                pulled.skipped += 1
        try:
            applied = row_changes_apply(source.publisher, changes) if changes else 0
        except RowChangeRefused as refused:
            raise FeedRefused(f"{source.publisher} at {source.base_url}: {refused}") from None
        if received:
            outbox_table(source.publisher).objects.using(database).bulk_create(
                received, ignore_conflicts=True
            )
            # The relay delivers them to the subscribers here, like an event published here.
            transaction.on_commit(
                lambda: relay_after_commit(source.publisher), using=database, robust=True
            )
        place.position = int(page["until"])
        if caught_up_at is not None:
            place.pulled_at = caught_up_at
        place.received += len(received)
        place.applied += applied
        place.save(using=database)
    pulled.received += len(received)
    pulled.applied += applied
    return True


def _subscribed_here(name: str) -> bool:
    try:
        event_type = events.event_type_named(name)
    except LookupError:
        # Taking it in would lose it (the relay cannot deliver an event it does not know);
        # stop here until this deployable runs code that knows it.
        raise FeedRefused(
            f"the feed has an event {name!r} this deployable does not know: deploy the code "
            f"that publishes it here too"
        ) from None
    return bool(events.subscribers_of(event_type))


def _received(publisher: str, row: dict[str, Any], origin: str) -> Any:
    return outbox_table(publisher)(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        aggregate_id=row["aggregate_id"],
        payload=row["payload"],
        occurred_at=datetime.fromisoformat(row["occurred_at"]),
        origin=origin,
    )


def feeds_pull(*, pages: int = DEFAULT_PAGES_PER_PULL) -> list[Pulled]:
    """Read every feed of ``feed_sources()``; one that fails is logged and left for the next
    pull, the others are read."""
    done = []
    for source in feed_sources():
        try:
            pulled = feed_pull(source, pages=pages)
        except Exception as exc:
            pulled = Pulled(source, error=f"{type(exc).__name__}: {exc}")
            logger.warning(
                "feed %s at %s not read: %s",
                source.publisher,
                source.base_url,
                pulled.error,
                extra={"publisher": source.publisher, "source": source.base_url},
            )
        done.append(pulled)
    return done
