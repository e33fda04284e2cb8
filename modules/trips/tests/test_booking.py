"""The booking saga: each path, compensations in reverse, idempotent replays, crash recovery.

Faults are injected at the other modules' front doors (what the saga calls): a refusal or an
outage raised there, or a simulated crash right after the other module committed and before
the saga could record it. The trip step is trips' own transaction: its crash is simulated
inside it, before it commits.
"""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from modules.trips import api as trips_api
from modules.trips import booking
from modules.trips.errors import ActiveTripExists, BookingPending, RiderDeactivated
from modules.trips.models import (
    BookingSaga,
    BookingState,
    BookingStep,
    Trip,
    TripStatus,
)
from modules.trips.tests.conftest import ROUTE, ROUTE_ARGS, credit_for, hold_id_of
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role
from monolith.platform.errors import Conflict, IllegalTransition, ServiceUnavailable

pytestmark = pytest.mark.django_db

AMOUNT = Decimal("10.00")


@pytest.fixture(autouse=True)
def _booking_amount(settings: Any) -> None:
    settings.FLEET_BOOKING_CREDIT_HOLD = AMOUNT


class Crash(BaseException):
    """The runner's process dies here: nothing after this line runs, nothing catches it."""


def history(saga: BookingSaga) -> list[tuple[str, str, str]]:
    return [(s.action, s.step, s.outcome) for s in saga.steps.order_by("number")]


def held(rider: Any) -> Decimal:
    return users_api.wallet_get(rider_id=rider.id).held.amount


def available(rider: Any) -> Decimal:
    return users_api.wallet_get(rider_id=rider.id).available.amount


def holding(vehicles: list[Any], trip_id: Any) -> list[Any]:
    """The vehicles (of ``vehicles``) the trip holds now."""
    now = [vehicles_api.vehicle_get(vehicle_id=v.id) for v in vehicles]
    return [v for v in now if v.current_trip_id == trip_id]


def start(rider: Any) -> BookingSaga:
    """A booking stored but not run: waiting for a runner, as after a crash at the start."""
    saga, token = booking.booking_start(rider_id=rider.id, claim=False, **ROUTE_ARGS)
    assert token is None
    return saga


def expire_lease(saga: BookingSaga) -> None:
    """Time passes: the runner's lease (or the retry delay) runs out."""
    BookingSaga.objects.filter(pk=saga.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make a front-door function raise ``error``, once or every time (``times=None``)."""

    def install(module: Any, name: str, error: BaseException, *, times: int | None = None) -> None:
        real = getattr(module, name)
        calls = {"n": 0}

        def fake(**kwargs: Any) -> Any:
            calls["n"] += 1
            if times is None or calls["n"] <= times:
                raise error
            return real(**kwargs)

        monkeypatch.setattr(module, name, fake)

    return install


@pytest.fixture
def crashing_after(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any, str], None]:
    """The runner dies right after ``module.name`` returned (and committed), once."""

    def install(module: Any, name: str) -> None:
        real = getattr(module, name)
        calls = {"n": 0}

        def fake(**kwargs: Any) -> Any:
            result = real(**kwargs)
            calls["n"] += 1
            if calls["n"] == 1:
                raise Crash
            return result

        monkeypatch.setattr(module, name, fake)

    return install


# --- confirmed ----------------------------------------------------------------------------------


def test_a_booking_holds_credit_reserves_the_vehicle_and_creates_the_trip(
    rider: Any, vehicle: Any
) -> None:
    before = available(rider)

    run = booking.booking_run(rider_id=rider.id, **ROUTE)

    saga = run.saga
    assert (saga.state, run.refusal) == (BookingState.CONFIRMED, None)
    trip = Trip.objects.get(id=saga.trip_id)
    assert (trip.status, trip.vehicle_id, trip.rider_id) == ("assigned", vehicle.id, rider.id)
    assert trip.requested_at == saga.created_at
    assert saga.vehicle_id == vehicle.id
    assert saga.finished_at is not None
    assert (saga.lease_token, saga.lease_expires_at) == (None, None)
    hold = users_api.credit_hold_get(hold_id=hold_id_of(saga))
    assert (hold.status, hold.amount.amount) == ("held", AMOUNT)
    assert hold.reference == trips_api.booking_credit_reference(trip_id=trip.id)
    assert (available(rider), held(rider)) == (before - AMOUNT, AMOUNT)
    assert [v.id for v in holding([vehicle], trip.id)] == [vehicle.id]
    assert history(saga) == [
        ("do", "reserve_credit", "done"),
        ("do", "reserve_vehicle", "done"),
        ("do", "create_trip", "done"),
        ("do", "confirm", "done"),
    ]


def test_the_held_amount_is_the_one_the_booking_started_with(
    rider: Any, vehicle: Any, settings: Any
) -> None:
    saga = start(rider)
    settings.FLEET_BOOKING_CREDIT_HOLD = Decimal("25.00")

    run = booking.booking_saga_resume(saga_id=saga.id)

    assert run is not None
    assert run.saga.state == BookingState.CONFIRMED
    assert held(rider) == AMOUNT


# --- refused at each step: compensations in reverse ---------------------------------------------


def test_not_enough_credit_is_refused_before_anything_is_held(
    make_user: Callable[..., Any], vehicle: Any
) -> None:
    poor = make_user("rider-poor", Role.RIDER)

    run = booking.booking_run(rider_id=poor.id, **ROUTE)

    assert run.saga.state == BookingState.COMPENSATED
    assert isinstance(run.refusal, users_api.InsufficientCredit)
    assert run.saga.failure_code == "insufficient_credit"
    assert "available" in run.saga.failure_message
    assert history(run.saga) == [("do", "reserve_credit", "refused")]
    assert held(poor) == 0
    assert holding([vehicle], run.saga.trip_id) == []
    assert not Trip.objects.exists()


def test_a_deactivated_rider_is_refused(make_user: Callable[..., Any], vehicle: Any) -> None:
    gone = make_user("rider-gone", Role.RIDER)
    credit_for(gone)
    type(gone).objects.filter(pk=gone.pk).update(is_active=False)

    run = booking.booking_run(rider_id=gone.id, **ROUTE)

    assert isinstance(run.refusal, RiderDeactivated)
    assert (run.saga.state, run.saga.failure_code) == ("compensated", "rider_deactivated")
    assert held(gone) == 0


def test_an_active_trip_is_refused_before_anything_is_held(
    assigned_trip: Trip, make_vehicle: Callable[..., Any]
) -> None:
    make_vehicle()
    rider_id = assigned_trip.rider_id
    held_before = users_api.wallet_get(rider_id=rider_id).held

    run = booking.booking_run(rider_id=rider_id, **ROUTE)

    assert isinstance(run.refusal, ActiveTripExists)
    assert run.saga.failure_code == "active_trip_exists"
    assert history(run.saga) == [("do", "reserve_credit", "refused")]
    assert users_api.wallet_get(rider_id=rider_id).held == held_before


def test_no_vehicle_releases_the_credit(rider: Any, make_vehicle: Callable[..., Any]) -> None:
    far_too_low = make_vehicle(battery_pct=3)
    before = available(rider)

    run = booking.booking_run(rider_id=rider.id, **ROUTE)

    saga = run.saga
    assert isinstance(run.refusal, vehicles_api.NoVehicleAvailable)
    assert (saga.state, saga.failure_code) == ("compensated", "no_vehicle_available")
    assert history(saga) == [
        ("do", "reserve_credit", "done"),
        ("do", "reserve_vehicle", "refused"),
        ("undo", "reserve_vehicle", "done"),
        ("undo", "reserve_credit", "done"),
    ]
    assert users_api.credit_hold_get(hold_id=hold_id_of(saga)).status == "released"
    assert (available(rider), held(rider)) == (before, 0)
    assert vehicles_api.vehicle_get(vehicle_id=far_too_low.id).status == "available"


def test_losing_the_trip_to_another_booking_releases_the_vehicle_then_the_credit(
    rider: Any, vehicle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rider's other booking created its trip first: the unique index refuses this one."""
    real = vehicles_api.vehicle_reserve_for_trip

    def reserve_while_another_booking_wins(**kwargs: Any) -> Any:
        reserved = real(**kwargs)
        Trip.objects.create(rider_id=rider.id, status=TripStatus.ASSIGNED, **ROUTE)
        return reserved

    monkeypatch.setattr(
        vehicles_api, "vehicle_reserve_for_trip", reserve_while_another_booking_wins
    )
    before = available(rider)

    run = booking.booking_run(rider_id=rider.id, **ROUTE)

    saga = run.saga
    assert isinstance(run.refusal, ActiveTripExists)
    assert (saga.state, saga.failure_code) == ("compensated", "active_trip_exists")
    assert history(saga) == [
        ("do", "reserve_credit", "done"),
        ("do", "reserve_vehicle", "done"),
        ("do", "create_trip", "refused"),
        ("undo", "reserve_vehicle", "done"),
        ("undo", "reserve_credit", "done"),
    ]
    assert not Trip.objects.filter(id=saga.trip_id).exists()
    assert holding([vehicle], saga.trip_id) == []
    assert vehicles_api.vehicle_get(vehicle_id=vehicle.id).status == "available"
    assert (available(rider), held(rider)) == (before, 0)


def test_in_process_callers_get_the_refusal_itself(rider: Any) -> None:
    with pytest.raises(vehicles_api.NoVehicleAvailable):
        trips_api.trip_request(rider_id=rider.id, **ROUTE)

    assert held(rider) == 0


# --- outages: the booking waits, retries, and gives up after a bound ----------------------------


@pytest.mark.parametrize(
    "outage",
    [
        ServiceUnavailable("The vehicles service did not answer."),
        RuntimeError("a bug, or something unforeseen"),
    ],
    ids=["503", "unexpected"],
)
def test_an_outage_leaves_the_booking_running_and_a_resume_finishes_it(
    rider: Any, vehicle: Any, failing: Callable[..., None], outage: Exception
) -> None:
    failing(vehicles_api, "vehicle_reserve_for_trip", outage, times=1)
    started = timezone.now()

    run = booking.booking_run(rider_id=rider.id, **ROUTE)

    saga = run.saga
    assert (saga.state, saga.step, run.refusal) == ("running", "reserve_vehicle", None)
    # Nobody holds it; it is due again after the first backoff (1 s).
    assert saga.lease_token is None
    assert saga.lease_expires_at is not None
    assert saga.lease_expires_at >= started + timedelta(seconds=1)
    last = saga.steps.order_by("number").last()
    assert last is not None
    assert (last.outcome, last.error_code) == (
        "interrupted",
        getattr(outage, "code", "RuntimeError"),
    )
    assert str(outage) in last.error
    assert held(rider) == AMOUNT  # kept while the booking goes on

    # The periodic resume waits for the delay...
    assert booking.booking_saga_resume_stale() == 0
    expire_lease(saga)
    assert booking.booking_saga_resume_stale() == 1

    saga.refresh_from_db()
    assert (saga.state, saga.attempts) == ("confirmed", 2)
    assert [v.id for v in holding([vehicle], saga.trip_id)] == [vehicle.id]
    assert held(rider) == AMOUNT


def test_in_process_callers_are_told_the_booking_is_pending(
    rider: Any, vehicle: Any, failing: Callable[..., None]
) -> None:
    failing(users_api, "credit_hold", ServiceUnavailable("users is down"))

    with pytest.raises(BookingPending) as caught:
        trips_api.trip_request(rider_id=rider.id, **ROUTE)

    assert caught.value.status == 503
    assert BookingSaga.objects.get(id=caught.value.booking_id).state == "running"


def test_after_the_last_attempt_the_booking_gives_up_and_compensates(
    rider: Any, vehicle: Any, failing: Callable[..., None], settings: Any
) -> None:
    settings.FLEET_BOOKING_MAX_ATTEMPTS = 3
    failing(vehicles_api, "vehicle_reserve_for_trip", ServiceUnavailable("vehicles is down"))
    saga = booking.booking_run(rider_id=rider.id, **ROUTE).saga
    for _ in range(2):
        assert saga.state == "running"
        expire_lease(saga)
        assert booking.booking_saga_resume_stale() == 1
        saga.refresh_from_db()

    assert (saga.state, saga.attempts, saga.failure_code) == (
        "compensated",
        3,
        "booking_unavailable",
    )
    assert "after 3 attempts" in saga.failure_message
    assert history(saga)[-3:] == [
        ("do", "reserve_vehicle", "interrupted"),
        ("undo", "reserve_vehicle", "done"),
        ("undo", "reserve_credit", "done"),
    ]
    assert held(rider) == 0
    assert holding([vehicle], saga.trip_id) == []


def test_an_outage_while_compensating_is_retried_until_everything_is_released(
    rider: Any, failing: Callable[..., None]
) -> None:
    failing(users_api, "credit_release", ServiceUnavailable("users is down"), times=1)

    run = booking.booking_run(rider_id=rider.id, **ROUTE)  # no vehicle: turns back

    saga = run.saga
    assert (saga.state, saga.step) == ("compensating", "reserve_credit")
    assert held(rider) == AMOUNT
    expire_lease(saga)
    booking.booking_saga_resume_stale()
    saga.refresh_from_db()
    assert saga.state == "compensated"
    assert held(rider) == 0


def test_an_undo_the_owner_refuses_fails_the_booking_for_staff(
    rider: Any, failing: Callable[..., None]
) -> None:
    failing(users_api, "credit_release", IllegalTransition("The hold was captured."), times=1)

    saga = booking.booking_run(rider_id=rider.id, **ROUTE).saga

    assert (saga.state, saga.step) == ("failed", "reserve_credit")
    assert history(saga)[-1] == ("undo", "reserve_credit", "refused")
    assert saga.steps.order_by("number").last().error == "The hold was captured."  # type: ignore[union-attr]
    assert saga.failure_code == "no_vehicle_available"  # why it turned back in the first place
    assert booking.booking_saga_resume_stale() == 0  # not the periodic resume's to retry

    # Staff fix the cause and turn it back again.
    again = booking.booking_saga_compensate(saga_id=saga.id, reason="retry")
    assert again.saga.state == "compensated"
    assert held(rider) == 0


# --- crash recovery: the runner dies at each step ------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "step"),
    [
        (users_api, "credit_hold", "reserve_credit"),
        (vehicles_api, "vehicle_reserve_for_trip", "reserve_vehicle"),
    ],
    ids=["after-credit-held", "after-vehicle-reserved"],
)
def test_a_runner_dying_after_a_step_committed_is_resumed_without_doing_it_twice(
    rider: Any,
    make_vehicle: Callable[..., Any],
    crashing_after: Callable[[Any, str], None],
    module: Any,
    name: str,
    step: str,
) -> None:
    vehicles = [make_vehicle(), make_vehicle()]
    crashing_after(module, name)
    with pytest.raises(Crash):
        booking.booking_run(rider_id=rider.id, **ROUTE)
    saga = BookingSaga.objects.get()
    # The other module committed; the saga never learnt it.
    assert (saga.state, saga.step, saga.lease_token is not None) == ("running", step, True)

    assert booking.booking_saga_resume(saga_id=saga.id) is None  # the dead runner's lease
    assert booking.booking_saga_resume_stale() == 0
    expire_lease(saga)
    assert booking.booking_saga_resume_stale() == 1

    saga.refresh_from_db()
    assert saga.state == "confirmed"
    assert held(rider) == AMOUNT  # one hold
    assert len(holding(vehicles, saga.trip_id)) == 1  # one vehicle
    assert Trip.objects.get(id=saga.trip_id).vehicle_id == saga.vehicle_id


def test_a_runner_dying_inside_the_trip_step_leaves_no_trip_and_is_resumed(
    rider: Any, vehicle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = booking._step_record

    def record_then_die(saga: BookingSaga, **kwargs: Any) -> None:
        real(saga, **kwargs)
        if BookingStep.CONFIRM in kwargs.get("also", ()):
            raise Crash

    monkeypatch.setattr(booking, "_step_record", record_then_die)
    with pytest.raises(Crash):
        booking.booking_run(rider_id=rider.id, **ROUTE)
    monkeypatch.setattr(booking, "_step_record", real)
    saga = BookingSaga.objects.get()
    # The trip and the confirmation were one transaction: neither happened.
    assert (saga.state, saga.step) == ("running", "create_trip")
    assert not Trip.objects.exists()

    expire_lease(saga)
    booking.booking_saga_resume_stale()

    saga.refresh_from_db()
    assert saga.state == "confirmed"
    assert Trip.objects.filter(id=saga.trip_id).count() == 1
    assert held(rider) == AMOUNT


def test_a_runner_dying_while_compensating_is_finished_by_the_next(
    rider: Any, crashing_after: Callable[[Any, str], None]
) -> None:
    crashing_after(users_api, "credit_release")
    with pytest.raises(Crash):
        booking.booking_run(rider_id=rider.id, **ROUTE)  # no vehicle: turns back, dies
    saga = BookingSaga.objects.get()
    assert (saga.state, saga.step) == ("compensating", "reserve_credit")
    assert held(rider) == 0  # released, not yet recorded

    expire_lease(saga)
    booking.booking_saga_resume_stale()

    saga.refresh_from_db()
    assert saga.state == "compensated"
    assert history(saga)[-1] == ("undo", "reserve_credit", "done")
    assert held(rider) == 0


# --- idempotent replays of each step -------------------------------------------------------------


@pytest.mark.parametrize("rewind_to", ["reserve_credit", "reserve_vehicle", "create_trip"])
def test_replaying_the_steps_of_a_confirmed_booking_changes_nothing(
    rider: Any, make_vehicle: Callable[..., Any], rewind_to: str
) -> None:
    vehicles = [make_vehicle(), make_vehicle()]
    saga = booking.booking_run(rider_id=rider.id, **ROUTE).saga
    hold_id, vehicle_id = saga.hold_id, saga.vehicle_id
    balances = (available(rider), held(rider))
    # As if the runner had died before recording these steps: they run again.
    BookingSaga.objects.filter(pk=saga.pk).update(
        state=BookingState.RUNNING,
        step=rewind_to,
        finished_at=None,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert booking.booking_saga_resume_stale() == 1

    saga.refresh_from_db()
    assert saga.state == "confirmed"
    assert (saga.hold_id, saga.vehicle_id) == (hold_id, vehicle_id)
    assert (available(rider), held(rider)) == balances
    assert [v.id for v in holding(vehicles, saga.trip_id)] == [vehicle_id]
    assert Trip.objects.filter(rider_id=rider.id).count() == 1


def test_replaying_the_compensations_changes_nothing(rider: Any) -> None:
    saga = booking.booking_run(rider_id=rider.id, **ROUTE).saga  # no vehicle: compensated
    balances = (available(rider), held(rider))
    BookingSaga.objects.filter(pk=saga.pk).update(
        state=BookingState.COMPENSATING,
        step=BookingStep.RESERVE_VEHICLE,
        finished_at=None,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    booking.booking_saga_resume_stale()

    saga.refresh_from_db()
    assert saga.state == "compensated"
    assert (available(rider), held(rider)) == balances


# --- leases: one runner at a time ---------------------------------------------------------------


def test_a_booking_a_runner_holds_is_not_resumed_by_another(rider: Any, vehicle: Any) -> None:
    saga, token = booking.booking_start(rider_id=rider.id, **ROUTE_ARGS)
    assert token is not None

    assert booking.booking_saga_resume(saga_id=saga.id) is None
    assert booking.booking_saga_resume_stale() == 0
    with pytest.raises(Conflict, match="being worked on"):
        booking.booking_saga_compensate(saga_id=saga.id, reason="no")
    saga.refresh_from_db()
    assert (saga.state, saga.attempts) == ("running", 1)


def test_a_runner_that_lost_its_lease_undoes_what_it_did_after_the_booking_turned_back(
    rider: Any, vehicle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slow runner reserves the vehicle after staff (or a resume) compensated the booking."""
    real = vehicles_api.vehicle_reserve_for_trip

    def slow_reservation(**kwargs: Any) -> Any:
        saga = BookingSaga.objects.get()
        expire_lease(saga)  # this runner was presumed dead
        booking.booking_saga_compensate(saga_id=saga.id, reason="stuck")
        return real(**kwargs)  # and then its reservation lands

    monkeypatch.setattr(vehicles_api, "vehicle_reserve_for_trip", slow_reservation)

    run = booking.booking_run(rider_id=rider.id, **ROUTE)

    saga = run.saga
    assert (saga.state, saga.failure_code) == ("compensated", "compensated_by_staff")
    assert holding([vehicle], saga.trip_id) == []
    assert vehicles_api.vehicle_get(vehicle_id=vehicle.id).status == "available"
    assert held(rider) == 0
    assert history(saga)[-1] == ("undo", "reserve_vehicle", "done")


def test_staff_compensate_a_booking_stuck_with_an_unknown_credit_step(
    rider: Any, vehicle: Any, crashing_after: Callable[[Any, str], None]
) -> None:
    crashing_after(users_api, "credit_hold")
    with pytest.raises(Crash):
        booking.booking_run(rider_id=rider.id, **ROUTE)
    saga = BookingSaga.objects.get()
    assert saga.hold_id is None  # held, but the saga never learnt the hold's id
    expire_lease(saga)

    run = booking.booking_saga_compensate(saga_id=saga.id, reason="rider called support")

    assert (run.saga.state, run.saga.failure_message) == ("compensated", "rider called support")
    assert held(rider) == 0  # found by its reference and released
    with pytest.raises(Conflict, match="compensated"):
        booking.booking_saga_compensate(saga_id=saga.id, reason="again")


def test_the_resume_runs_from_beat(db: Any) -> None:
    from modules.trips import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["trips.booking_saga_resume_stale"]
    assert entry["task"] == tasks.booking_saga_resume_stale.name
    assert entry["schedule"] == settings.FLEET_BOOKING_RESUME_EVERY_SECONDS
    # Extending the schedule keeps the platform's entries.
    assert "platform.outbox_sweep" in settings.CELERY_BEAT_SCHEDULE
    assert tasks.booking_saga_resume.name == "trips.booking_saga_resume"
