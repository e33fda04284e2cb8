"""The issue's two flows end to end, through every module's front door:

- a vehicle going offline mid-trip interrupts the trip, and the rider's booking credit is
  released (vehicles -> trips -> billing -> users);
- a declined card makes billing take what the invoice owes from the booking's credit hold,
  recorded once as a wallet payment, even when the delivery is sent twice.

First in this process (``deliver_events``: the worker's relay and delivery code), then with a
real Celery worker process and broker, no eager mode.
"""

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from modules.billing import api as billing_api
from modules.billing.models import Inbox as BillingInbox
from modules.billing.models import Invoice, Payment
from modules.billing.models import Outbox as BillingOutbox
from modules.trips import api as trips_api
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.money import Money
from monolith.platform.tasks import deliver, outbox_relay
from monolith.platform.tests.outbox_support import (
    tariff_ensure,
    worker_wait,
)
from monolith.platform.worker_process import WorkerHandle

_serials: Iterator[int] = itertools.count(1)
CREDIT = Decimal("50.00")
FARE = Decimal("17.50")  # 10 km and 10 minutes at the outbox tests' tariff


def _vehicle() -> vehicles_api.VehicleSummary:
    return vehicles_api.vehicle_register(
        vin=vehicles_api.vin_complete(f"1M8GDM9A0KP{next(_serials) + 700000:06d}"),
        make="Zoox",
        model="Robotaxi",
        seats=4,
        latitude=Decimal("52.520000"),
        longitude=Decimal("13.405000"),
        battery_pct=100,
    )


def _book_and_start(rider: Any) -> tuple[trips_api.TripSummary, users_api.CreditHoldSummary]:
    """A funded rider books a trip (its credit is held) and is picked up."""
    users_api.credit_top_up(rider_id=rider.id, amount=CREDIT, reference=f"flows-{uuid.uuid4()}")
    _vehicle()
    trip = trips_api.trip_request(
        rider_id=rider.id,
        origin_latitude=Decimal("52.521918"),
        origin_longitude=Decimal("13.413215"),
        destination_latitude=Decimal("52.516275"),
        destination_longitude=Decimal("13.377704"),
    )
    trip = trips_api.trip_start(trip_id=trip.id)
    return trip, _hold(rider, trip.id)


def _hold(rider: Any, trip_id: uuid.UUID) -> users_api.CreditHoldSummary:
    hold = users_api.credit_hold_find(
        rider_id=rider.id, reference=trips_api.booking_credit_reference(trip_id=trip_id)
    )
    assert hold is not None, "the booking holds the rider's credit"
    return hold


def _vehicle_goes_offline(trip: trips_api.TripSummary) -> None:
    assert trip.vehicle_id is not None
    vehicles_api.vehicle_status_change(
        vehicle_id=trip.vehicle_id, status="offline", reason="lost contact"
    )


def _declined_card_trip(rider: Any) -> tuple[trips_api.TripSummary, users_api.CreditHoldSummary]:
    tariff_ensure()
    billing_api.payment_method_set(rider_id=rider.id, card_token="tok_chargeDeclined")
    trip, hold = _book_and_start(rider)
    trips_api.trip_complete(trip_id=trip.id, distance_km=Decimal("10"), duration_seconds=600)
    return trip, hold


def _assert_interrupted_and_refunded(
    rider: Any, trip: trips_api.TripSummary, hold: users_api.CreditHoldSummary
) -> None:
    assert trips_api.trip_get(trip_id=trip.id).status == "interrupted"
    assert _hold(rider, trip.id).status == "released"
    assert users_api.wallet_get(rider_id=rider.id).available == Money(CREDIT, "EUR")
    assert trip.vehicle_id is not None
    vehicle = vehicles_api.vehicle_get(vehicle_id=trip.vehicle_id)
    assert (vehicle.status, vehicle.current_trip_id) == ("offline", None)
    assert not Invoice.objects.filter(trip_id=trip.id).exists()


def _assert_paid_from_the_hold(
    rider: Any, trip: trips_api.TripSummary, hold: users_api.CreditHoldSummary
) -> None:
    taken = min(FARE, hold.amount.amount)
    invoice = Invoice.objects.get(trip_id=trip.id)
    wallet_payment = invoice.payments.get(source=Payment.Source.WALLET)
    assert wallet_payment.amount == taken
    assert invoice.payments.filter(source=Payment.Source.CARD, status="failed").count() == 1
    assert invoice.status == ("paid" if taken == FARE else "payment_failed")
    assert _hold(rider, trip.id).captured == Money(taken, "EUR")
    wallet = users_api.wallet_get(rider_id=rider.id)
    assert (wallet.available, wallet.held) == (
        Money(CREDIT - taken, "EUR"),
        Money(Decimal("0.00"), "EUR"),
    )


# In this process --------------------------------------------------------------------------


@pytest.mark.django_db
def test_vehicle_offline_mid_trip_interrupts_it_and_releases_the_credit(
    rider: Any, deliver_events: Callable[..., int]
) -> None:
    trip, hold = _book_and_start(rider)
    assert hold.status == "held"
    _vehicle_goes_offline(trip)
    deliver_events()
    _assert_interrupted_and_refunded(rider, trip, hold)


@pytest.mark.django_db
def test_declined_card_is_paid_from_the_booking_hold(
    rider: Any, deliver_events: Callable[..., int]
) -> None:
    trip, hold = _declined_card_trip(rider)
    deliver_events()
    _assert_paid_from_the_hold(rider, trip, hold)


@pytest.mark.django_db
def test_a_cancelled_booking_gives_the_credit_back(
    rider: Any, deliver_events: Callable[..., int], client_for: Callable[[Any], Any]
) -> None:
    users_api.credit_top_up(rider_id=rider.id, amount=CREDIT, reference=f"flows-{uuid.uuid4()}")
    _vehicle()
    trip = trips_api.trip_request(
        rider_id=rider.id,
        origin_latitude=Decimal("52.521918"),
        origin_longitude=Decimal("13.413215"),
        destination_latitude=Decimal("52.516275"),
        destination_longitude=Decimal("13.377704"),
    )
    assert _hold(rider, trip.id).status == "held"

    response = client_for(rider).post(
        reverse("trips:trip-cancel", args=[trip.id]), {"reason": "rider_changed_mind"}
    )
    assert response.status_code == 200, response.json()
    deliver_events()

    assert _hold(rider, trip.id).status == "released"
    wallet = users_api.wallet_get(rider_id=rider.id)
    assert (wallet.available, wallet.held) == (Money(CREDIT, "EUR"), Money(Decimal("0.00"), "EUR"))


# With a real worker -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_interrupts_the_trip_and_releases_the_credit(
    rider: Any, worker: WorkerHandle
) -> None:
    trip, hold = _book_and_start(rider)
    _vehicle_goes_offline(trip)

    worker_wait(lambda: _hold(rider, trip.id).status == "released", "the release", worker)
    _assert_interrupted_and_refunded(rider, trip, hold)
    assert "trips.TripInterrupted" in worker.log()


@pytest.mark.django_db(transaction=True)
def test_worker_takes_the_credit_once_when_the_failure_is_delivered_twice(
    rider: Any, worker: WorkerHandle
) -> None:
    trip, hold = _declined_card_trip(rider)
    wallet_paid = Payment.objects.filter(invoice__trip_id=trip.id, source=Payment.Source.WALLET)
    worker_wait(wallet_paid.exists, "the wallet payment", worker)
    failed = BillingOutbox.objects.get(name="billing.InvoicePaymentFailed")
    worker_wait(lambda: BillingInbox.objects.filter(event_id=failed.id).exists(), "inbox", worker)

    # Sent twice more: the same delivery task again, and the outbox row relayed again.
    deliver.delay("billing", str(failed.id), "billing", failed.name, failed.payload)
    BillingOutbox.objects.filter(id=failed.id).update(relayed_at=None)
    outbox_relay.delay("billing")
    worker_wait(
        lambda: BillingOutbox.objects.filter(id=failed.id, relayed_at__isnull=False).exists(),
        "the relay",
        worker,
    )
    time.sleep(2)  # room for the redelivered tasks to run (and, if broken, to pay twice)

    assert wallet_paid.count() == 1
    assert BillingInbox.objects.filter(event_id=failed.id, subscriber="billing").count() == 1
    _assert_paid_from_the_hold(rider, trip, hold)
