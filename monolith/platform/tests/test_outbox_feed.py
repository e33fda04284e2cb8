"""The outbox feed and row mirroring, in one process: places given in relay order, what a page
holds, triggers that capture every write and an apply that is not captured again.

Between real processes (the monolith and the trips service): test_feed_processes.py.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from modules.billing import api as billing_api
from modules.billing.models import Outbox as BillingOutbox
from modules.billing.models import Tariff
from modules.trips.models import Inbox as TripsInbox
from modules.trips.models import Outbox as TripsOutbox
from modules.trips.models import Trip
from modules.vehicles.events import VehicleWentOffline
from modules.vehicles.models import Outbox as VehiclesOutbox
from monolith.platform.models import FeedPosition
from monolith.platform.outbox.feed import (
    EVENTS,
    KINDS,
    ROWS,
    FeedRefused,
    FeedSource,
    feed_page,
    feed_sources,
)
from monolith.platform.outbox.machinery import (
    event_deliver,
    outbox_relay_run,
    outbox_write,
    row_change_name,
)
from monolith.platform.outbox.mirror import (
    CopyBehind,
    RowChangeRefused,
    mirror_install,
    mirror_installed,
    mirror_remove,
    mirrored_models,
    row_changes_apply,
)
from monolith.platform.outbox.pruning import events_prune

pytestmark = pytest.mark.django_db


def _event(**fields: Any) -> Any:
    return TripsOutbox.objects.create(
        name="trips.TripCancelled",
        aggregate_id=str(uuid.uuid4()),
        payload={},
        occurred_at=timezone.now(),
        **fields,
    )


def _relay() -> int:
    return outbox_relay_run("trips", send=lambda **delivery: None)


def _trip(**fields: Any) -> Trip:
    return Trip.objects.create(
        rider_id=uuid.uuid4(),
        origin_latitude="52.52",
        origin_longitude="13.40",
        destination_latitude="52.50",
        destination_longitude="13.45",
        **fields,
    )


def test_the_relay_gives_places_in_relay_order_and_numbers_on_after_pruning() -> None:
    first = [_event() for _ in range(3)]
    _relay()
    later = _event()
    _relay()

    places = dict(TripsOutbox.objects.values_list("id", "position"))
    assert [places[row.id] for row in [*first, later]] == [1, 2, 3, 4]

    # Everything is past retention: the last place stays, so the numbering goes on from it.
    TripsOutbox.objects.update(relayed_at=timezone.now() - timedelta(days=30))
    events_prune()
    assert list(TripsOutbox.objects.values_list("position", flat=True)) == [4]
    newest = _event()
    _relay()
    assert TripsOutbox.objects.get(pk=newest.pk).position == 5


def test_a_page_holds_what_was_published_here_after_the_place_asked_for() -> None:
    published = [_event() for _ in range(3)]
    received = _event(origin="trips-service")
    _relay()

    page = feed_page("trips", after=1, limit=10, kinds=KINDS)

    # The received event is delivered here but not served on.
    assert [row["id"] for row in page["rows"]] == [str(row.id) for row in published[1:]]
    assert str(received.id) not in {row["id"] for row in page["rows"]}
    assert page["until"] == 4  # past the received row's place: nothing below it is left
    # A full page stops at its last row; the reader asks again from there.
    full = feed_page("trips", after=0, limit=2, kinds=KINDS)
    assert ([row["position"] for row in full["rows"]], full["until"]) == ([1, 2], 2)


def test_a_page_of_one_kind_skips_the_other_and_unknown_requests_are_refused() -> None:
    _event()
    with transaction.atomic():
        mirror_install("trips")
        _trip()
    _relay()
    assert {row["name"] for row in feed_page("trips", after=0, limit=10, kinds={ROWS})["rows"]} == {
        row_change_name("trips")
    }
    assert {
        row["name"] for row in feed_page("trips", after=0, limit=10, kinds={EVENTS})["rows"]
    } == {"trips.TripCancelled"}
    with pytest.raises(FeedRefused, match="kinds must be among"):
        feed_page("trips", after=0, limit=10, kinds={"everything"})
    with pytest.raises(FeedRefused, match="does not serve") as refused:
        feed_page("nowhere", after=0, limit=10, kinds=KINDS)
    assert refused.value.status == 404


def test_every_write_to_a_mirrored_table_is_captured_in_its_transaction() -> None:
    assert set(mirror_install("trips")) == {m._meta.db_table for m in mirrored_models("trips")}
    assert "trips_outbox" not in mirror_installed("trips")
    trip = _trip()
    # A queryset update and raw SQL too, which no model signal sees.
    Trip.objects.filter(pk=trip.pk).update(cancel_note="queryset update")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trips_trip SET cancel_note = 'raw' WHERE id = %s", [trip.pk])
        cursor.execute("UPDATE trips_trip SET cancel_note = 'raw' WHERE id = %s", [trip.pk])
    Trip.objects.filter(pk=trip.pk).delete()

    changes = TripsOutbox.objects.filter(name=row_change_name("trips")).order_by("occurred_at")
    # The update that changed nothing is not captured.
    assert [(c.payload["op"], c.payload["row"]["cancel_note"]) for c in changes] == [
        ("upsert", ""),
        ("upsert", "queryset update"),
        ("upsert", "raw"),
        ("delete", "raw"),
    ]
    assert {c.aggregate_id for c in changes} == {str(trip.pk)}

    assert set(mirror_remove("trips")) == set(mirror_installed("trips")) | {
        m._meta.db_table for m in mirrored_models("trips")
    }
    assert mirror_installed("trips") == []
    _trip()
    assert TripsOutbox.objects.filter(name=row_change_name("trips")).count() == 4


def test_applying_a_change_writes_the_row_as_sent_and_is_not_captured_again() -> None:
    mirror_install("trips")
    trip = _trip(cancel_note="from the other side")
    sent = TripsOutbox.objects.get(name=row_change_name("trips")).payload
    TripsOutbox.objects.all().delete()
    with transaction.atomic():
        # As if it had never been here: remove it without capturing.
        row_changes_apply("trips", [{**sent, "op": "delete"}])
    assert not Trip.objects.filter(pk=trip.pk).exists()

    with transaction.atomic():
        assert row_changes_apply("trips", [sent, sent]) == 2  # twice: the same row

    trip.refresh_from_db()  # the row exactly as it was sent
    back = Trip.objects.get(pk=trip.pk)
    assert [getattr(back, f.attname) for f in Trip._meta.concrete_fields] == [
        getattr(trip, f.attname) for f in Trip._meta.concrete_fields
    ]
    assert not TripsOutbox.objects.exists()
    # The transaction that applied is over: this deployable's own writes are captured again.
    Trip.objects.filter(pk=trip.pk).update(cancel_note="here")
    assert TripsOutbox.objects.filter(name=row_change_name("trips")).count() == 1


def test_billings_rows_come_back_exactly_as_sent_too() -> None:
    mirror_install("billing")
    created = billing_api.tariff_create(
        name="Mirrored",
        base_fare=Decimal("2.50"),
        per_km=Decimal("1.20"),
        per_minute=Decimal("0.30"),
        minimum_fare=Decimal("5.00"),
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        effective_to=datetime(2027, 1, 1, 12, 30, 15, 123456, tzinfo=UTC),
    )
    tariff = Tariff.objects.get(pk=created.id)
    (sent,) = BillingOutbox.objects.filter(name=row_change_name("billing")).values_list(
        "payload", flat=True
    )
    with transaction.atomic():
        row_changes_apply("billing", [{**sent, "op": "delete"}])
        row_changes_apply("billing", [sent])
    back = Tariff.objects.get(pk=tariff.pk)
    assert [getattr(back, f.attname) for f in Tariff._meta.concrete_fields] == [
        getattr(tariff, f.attname) for f in Tariff._meta.concrete_fields
    ]


def test_a_change_for_a_table_that_is_not_mirrored_is_refused_whole() -> None:
    trip = _trip()
    sent = {"table": "trips_trip", "op": "upsert", "row": {"id": str(trip.pk)}}
    with pytest.raises(RowChangeRefused, match="auth_user"), transaction.atomic():
        row_changes_apply("trips", [sent, {**sent, "table": "auth_user"}])
    with pytest.raises(RowChangeRefused, match="unknown op"), transaction.atomic():
        row_changes_apply("trips", [{**sent, "op": "truncate"}])


@override_settings(FLEET_SERVICE_URLS={"trips": "http://trips:8000"})
def test_the_monolith_reads_each_service_and_a_service_reads_the_monolith() -> None:
    assert feed_sources() == [FeedSource("http://trips:8000", "trips", KINDS)]
    with override_settings(
        FLEET_SERVICE_MODULE="trips",
        FLEET_MODULE_URLS={
            "users": "http://monolith:8000",
            "vehicles": "http://monolith:8000",
            "billing": "http://billing:8000",
        },
    ):
        assert feed_sources() == [FeedSource("http://monolith:8000", "trips", frozenset({ROWS}))]
        with override_settings(FLEET_MONOLITH_URL="http://core:8000/"):
            assert feed_sources()[0].base_url == "http://core:8000"


def test_pulling_with_nothing_to_read_says_so() -> None:
    out = StringIO()
    call_command("events", "pull", stdout=out)
    assert out.getvalue().startswith("No feeds to read")


@override_settings(FLEET_SERVICE_URLS={"trips": "http://127.0.0.1:9"})
def test_a_feed_that_does_not_answer_is_one_line_and_a_failing_exit() -> None:
    err = StringIO()
    with pytest.raises(CommandError, match="some feeds were not read"):
        call_command("events", "pull", stdout=StringIO(), stderr=err)
    (line,) = err.getvalue().splitlines()
    assert line.startswith("trips at http://127.0.0.1:9: not read: ModuleUnavailable")
    assert not FeedPosition.objects.exists()  # nothing taken, nothing moved


def _vehicle_went_offline() -> tuple[str, Any]:
    event = VehicleWentOffline(
        vehicle_id=uuid.uuid4(),
        trip_id=None,
        from_status="available",
        reason="test",
        went_offline_at=timezone.now(),
    )
    return str(outbox_write(event)), event


def _deliver_to_trips(event_id: str, event: Any) -> bool:
    return event_deliver(
        publisher="vehicles",
        event_id=event_id,
        subscriber="trips",
        name=event.name,
        payload=event.payload(),
    )


@override_settings(FLEET_SERVICE_URLS={"trips": "http://trips:8000"})
def test_a_reaction_in_a_mirrored_module_waits_for_a_copy_read_past_its_event() -> None:
    event_id, event = _vehicle_went_offline()
    occurred_at = VehiclesOutbox.objects.get(pk=event_id).occurred_at

    with pytest.raises(CopyBehind, match="never read"):
        _deliver_to_trips(event_id, event)
    place = FeedPosition.objects.create(
        source="http://trips:8000",
        publisher="trips",
        pulled_at=occurred_at - timedelta(milliseconds=1),
    )
    with pytest.raises(CopyBehind, match="last read to its end at"):
        _deliver_to_trips(event_id, event)
    # Waiting rolled the inbox claim back: the delivery comes again and is handled once.
    assert not TripsInbox.objects.filter(event_id=event_id).exists()

    place.pulled_at = occurred_at
    place.save()
    assert _deliver_to_trips(event_id, event) is True
    assert _deliver_to_trips(event_id, event) is False  # the inbox: once


def test_a_reaction_in_a_module_not_mirrored_runs_at_once() -> None:
    event_id, event = _vehicle_went_offline()
    assert _deliver_to_trips(event_id, event) is True


def test_a_page_is_complete_only_when_it_reaches_everything_committed() -> None:
    for _ in range(3):
        _event()
    _relay()  # here, not by the feed's relay: its deliveries would reach the real broker
    assert feed_page("trips", after=0, limit=10, kinds=KINDS)["complete"] is True
    assert feed_page("trips", after=0, limit=3, kinds=KINDS)["complete"] is False
