"""A vehicle that goes offline interrupts the trip holding it, and frees itself from it.

Trips hears of it through the vehicles module's ``VehicleWentOffline``, delivered the way the
worker's ``platform.deliver`` task does (in trips' transaction, recorded in its inbox).
"""

import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from modules.trips import services
from modules.trips.errors import BookingPending
from modules.trips.events import TripInterrupted
from modules.trips.models import BookingSaga, Inbox, Trip, TripStatus
from modules.vehicles import api as vehicles_api
from modules.vehicles.events import VehicleWentOffline
from monolith.platform.errors import IllegalTransition
from monolith.platform.events import subscribers_of
from monolith.platform.outbox.machinery import event_deliver, outbox_published

pytestmark = pytest.mark.django_db

DISTANCE_KM = Decimal("3.20")


def went_offline(
    vehicle_id: uuid.UUID, *, reason: str = "lidar fault", trip_id: uuid.UUID | None = None
) -> VehicleWentOffline:
    """Take the vehicle offline through its module's front door; the event it published.

    Trips may not read the vehicles module's outbox, so the event is rebuilt from the vehicle
    as its module reports it (the vehicles tests check what is really published).
    """
    before = vehicles_api.vehicle_get(vehicle_id=vehicle_id)
    after = vehicles_api.vehicle_status_change(
        vehicle_id=vehicle_id, status="offline", reason=reason
    )
    return VehicleWentOffline(
        vehicle_id=vehicle_id,
        trip_id=trip_id or after.current_trip_id,
        from_status=before.status,
        reason=reason,
        went_offline_at=timezone.now(),
    )


def deliver(event: VehicleWentOffline, event_id: uuid.UUID | None = None) -> bool:
    return event_deliver(
        publisher="vehicles",
        event_id=str(event_id or uuid.uuid4()),
        subscriber="trips",
        name=event.name,
        payload=event.payload(),
    )


def test_trips_subscribes_to_vehicles_going_offline() -> None:
    assert "trips" in subscribers_of(VehicleWentOffline)


def test_a_vehicle_offline_during_the_ride_interrupts_the_trip(running_trip: Trip) -> None:
    assert running_trip.vehicle_id is not None
    event = went_offline(running_trip.vehicle_id)
    assert event.trip_id == running_trip.id
    # Until trips hears of it, the trip still holds its (offline) vehicle.
    assert vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id).current_trip_id == (
        running_trip.id
    )

    assert deliver(event) is True

    trip = Trip.objects.get(id=running_trip.id)
    assert trip.status == TripStatus.INTERRUPTED
    assert trip.cancelled_at is not None
    assert (trip.cancel_reason, trip.cancelled_by) == ("vehicle_issue", "")
    assert trip.cancel_note == "Vehicle went offline during the ride: lidar fault"
    assert trip.completed_at is None
    (published,) = outbox_published("trips", TripInterrupted)
    assert (published.trip_id, published.rider_id, published.vehicle_id) == (
        trip.id,
        trip.rider_id,
        trip.vehicle_id,
    )
    assert published.started_at == trip.started_at
    assert published.interrupted_at == trip.cancelled_at
    assert published.reason == trip.cancel_note
    # The vehicle stays offline, freed from the trip: staff may bring it back now.
    vehicle = vehicles_api.vehicle_get(vehicle_id=running_trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("offline", None)
    assert vehicles_api.vehicle_status_change(vehicle_id=vehicle.id, status="available").status == (
        "available"
    )


def test_a_vehicle_offline_before_the_pick_up_interrupts_the_trip(assigned_trip: Trip) -> None:
    assert assigned_trip.vehicle_id is not None
    deliver(went_offline(assigned_trip.vehicle_id, reason=""))

    trip = Trip.objects.get(id=assigned_trip.id)
    assert trip.status == TripStatus.INTERRUPTED
    assert trip.cancel_note == "Vehicle went offline before the pick-up"
    (published,) = outbox_published("trips", TripInterrupted)
    assert published.started_at is None
    assert vehicles_api.vehicle_get(vehicle_id=assigned_trip.vehicle_id).current_trip_id is None


def test_the_same_delivery_twice_interrupts_once(running_trip: Trip, caplog: Any) -> None:
    assert running_trip.vehicle_id is not None
    event, event_id = went_offline(running_trip.vehicle_id), uuid.uuid4()

    assert deliver(event, event_id) is True
    assert deliver(event, event_id) is False
    assert Inbox.objects.filter(event_id=event_id, subscriber="trips").count() == 1
    # The same fact again under a new id: the trip is interrupted already.
    with caplog.at_level(logging.INFO, logger="modules.trips.handlers"):
        assert deliver(event) is True
    assert f"after trip {running_trip.id} was interrupted; nothing interrupted" in caplog.text
    assert len(outbox_published("trips", TripInterrupted)) == 1


def test_an_event_about_a_trip_that_completed_meanwhile_changes_nothing(
    running_trip: Trip, caplog: Any
) -> None:
    assert running_trip.vehicle_id is not None
    event = went_offline(running_trip.vehicle_id)
    # The rider arrived before trips heard of the outage.
    services.trip_complete(trip_id=running_trip.id, distance_km=DISTANCE_KM, duration_seconds=600)

    with caplog.at_level(logging.INFO, logger="modules.trips.handlers"):
        assert deliver(event) is True

    assert Trip.objects.get(id=running_trip.id).status == TripStatus.COMPLETED
    assert f"after trip {running_trip.id} was completed; nothing interrupted" in caplog.text
    assert not outbox_published("trips", TripInterrupted)


def test_an_event_about_a_cancelled_trip_changes_nothing(assigned_trip: Trip) -> None:
    assert assigned_trip.vehicle_id is not None
    event = went_offline(assigned_trip.vehicle_id)
    services.trip_cancel(
        trip_id=assigned_trip.id, reason="rider_changed_mind", cancelled_by="rider"
    )

    deliver(event)

    trip = Trip.objects.get(id=assigned_trip.id)
    assert (trip.status, trip.cancel_reason) == (TripStatus.CANCELLED, "rider_changed_mind")
    assert not outbox_published("trips", TripInterrupted)


def test_a_vehicle_no_trip_held_going_offline_changes_no_trip(
    vehicle: vehicles_api.VehicleSummary, assigned_trip: Trip
) -> None:
    # ``vehicle`` is assigned_trip's; another one, held by nobody, goes offline.
    spare = vehicles_api.vehicle_register(
        vin=vehicles_api.vin_complete("1M8GDM9A0KP990001"),
        make="Zoox",
        model="Robotaxi",
        seats=4,
    )
    event = went_offline(spare.id)
    assert event.trip_id is None

    assert deliver(event) is True

    assert Trip.objects.get(id=assigned_trip.id).status == TripStatus.ASSIGNED


def test_an_event_naming_another_vehicle_of_the_trip_changes_nothing(
    running_trip: Trip, caplog: Any
) -> None:
    stranger = VehicleWentOffline(
        vehicle_id=uuid.uuid4(),
        trip_id=running_trip.id,
        from_status="in_trip",
        reason="",
        went_offline_at=timezone.now(),
    )
    with caplog.at_level(logging.WARNING, logger="modules.trips.handlers"):
        assert deliver(stranger) is True
    assert Trip.objects.get(id=running_trip.id).status == TripStatus.IN_PROGRESS
    assert "nothing interrupted" in caplog.text


def test_only_an_assigned_or_running_trip_can_be_interrupted(running_trip: Trip) -> None:
    services.trip_complete(trip_id=running_trip.id, distance_km=DISTANCE_KM, duration_seconds=600)
    with pytest.raises(IllegalTransition) as caught:
        services.trip_interrupt(trip_id=running_trip.id, note="too late")
    assert "from 'completed' to 'interrupted'" in caught.value.message


def test_a_vehicle_still_answering_is_not_freed_by_an_interruption(running_trip: Trip) -> None:
    """The interruption is for a vehicle that went offline; one still in the trip refuses to
    be released, and the interruption rolls back with it."""
    with pytest.raises(IllegalTransition):
        services.trip_interrupt(trip_id=running_trip.id, note="no outage at all")
    assert Trip.objects.get(id=running_trip.id).status == TripStatus.IN_PROGRESS
    assert not outbox_published("trips", TripInterrupted)


def test_riders_and_staff_see_the_interruption(
    running_trip: Trip, rider: Any, staff: Any, client_for: Any
) -> None:
    assert running_trip.vehicle_id is not None
    deliver(went_offline(running_trip.vehicle_id))

    body = client_for(rider).get(f"/api/v1/trips/{running_trip.id}/").json()
    assert body["status"] == "interrupted"
    assert body["cancel_reason"] == "vehicle_issue"
    assert body["cancel_note"] == "Vehicle went offline during the ride: lidar fault"
    assert body["cancelled_by"] == ""
    assert body["cancelled_at"] is not None
    listed = client_for(staff).get("/api/v1/trips/", {"status": "interrupted"}).json()
    assert [trip["id"] for trip in listed["results"]] == [str(running_trip.id)]

    client = Client()
    client.force_login(staff)
    page = client.get("/admin/trips/trip/", {"status__exact": "interrupted"})
    assert page.status_code == 200
    assert str(running_trip.id) in page.content.decode()
    detail = client.get(f"/admin/trips/trip/{running_trip.id}/change/").content.decode()
    assert "Vehicle went offline during the ride: lidar fault" in detail


def test_an_event_naming_a_trip_never_booked_changes_nothing(
    vehicle: vehicles_api.VehicleSummary, caplog: Any
) -> None:
    trip_id = uuid.uuid4()
    event = went_offline(vehicle.id, trip_id=trip_id)

    with caplog.at_level(logging.INFO, logger="modules.trips.handlers"):
        assert deliver(event) is True

    assert f"holding trip {trip_id}, which was never booked" in caplog.text
    assert not Trip.objects.filter(id=trip_id).exists()


def test_an_event_naming_a_trip_still_being_booked_waits_for_the_booking(
    vehicle: vehicles_api.VehicleSummary, rider: Any
) -> None:
    booking = BookingSaga.objects.create(
        rider_id=rider.id,
        origin_latitude=Decimal("52.520000"),
        origin_longitude=Decimal("13.405000"),
        destination_latitude=Decimal("52.516275"),
        destination_longitude=Decimal("13.377704"),
        credit_amount=Decimal("10.00"),
        lease_expires_at=timezone.now(),
    )
    event = went_offline(vehicle.id, trip_id=booking.trip_id)

    with pytest.raises(BookingPending):
        deliver(event)

    # Retried, the delivery had no effect yet: its inbox has no entry for it.
    assert not Inbox.objects.exists()
