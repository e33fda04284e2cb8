"""The booking saga: reserve the rider's credit, reserve a vehicle, create the trip, confirm.

Each step is a transaction of the module that owns it (users, vehicles, trips), so no
transaction spans modules: that is what lets a module move to a database, and a service, of its
own (decision 0008). The saga's state is stored in trips and advanced one step at a time by a
*runner* (the booking request, or a Celery worker resuming) that holds the booking's lease.

- Every step is idempotent, keyed by the trip id chosen when the booking starts: the credit
  hold by its reference (``booking_credit_reference``), the vehicle by the trip it is reserved
  for, the trip by its id. A step repeated after a crash finds what the first attempt did.
- A business refusal (no credit, no vehicle, an active trip, a deactivated rider) compensates:
  the completed steps are undone in reverse (release the vehicle, release the credit) and the
  booking ends ``compensated`` with the reason.
- An outage (a module answering 503, the database unreachable) leaves the booking running: the
  runner lets go of the lease until a backoff has passed and queues a resume; after
  ``FLEET_BOOKING_MAX_ATTEMPTS`` runs it gives up and compensates.
- A runner that dies leaves its lease to expire; ``booking_saga_resume_stale`` (run by beat)
  takes such bookings over, one at a time, and carries them forward or back.
- ``create_trip`` and ``confirm`` commit in one trips transaction, with the lease check: a trip
  exists if and only if its booking is confirmed, so the trip itself never needs undoing.
"""

import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from modules.trips.errors import ActiveTripExists, BookingNotFound, BookingPending, RiderDeactivated
from modules.trips.models import (
    ACTIVE_TRIP_STATUSES,
    BOOKING_UNFINISHED_STATES,
    BookingSaga,
    BookingSagaStep,
    BookingState,
    BookingStep,
    BookingStepAction,
    BookingStepOutcome,
    Trip,
    TripStatus,
)
from modules.users import api as users_api
from modules.vehicles import api as vehicles_api
from monolith.platform.errors import Conflict, FleetError, InvalidRequest, ServiceUnavailable
from monolith.platform.geo import position_check
from monolith.platform.registry import module_atomic, module_database

logger = logging.getLogger(__name__)

ACTIVE_TRIP_CONSTRAINT = "trips_trip_one_active_per_rider"
# The database being unreachable or a statement cut off: worth trying again later.
DATABASE_OUTAGES = (OperationalError, InterfaceError)
# Failure codes of the saga itself (a step's refusal carries its own error's code).
GAVE_UP = "booking_unavailable"
STAFF_COMPENSATED = "compensated_by_staff"
ERROR_MAX_LENGTH = 2000
RESUME_STALE_BATCH = 20


def booking_credit_reference(*, trip_id: UUID) -> str:
    """The credit hold's reference: one per trip, so holding again finds the first hold."""
    return f"trip:{trip_id}"


def booking_credit_amount() -> Decimal:
    """The credit a new booking holds (``FLEET_BOOKING_CREDIT_HOLD``)."""
    return Decimal(settings.FLEET_BOOKING_CREDIT_HOLD)


def active_trip_conflict(rider_id: UUID) -> ActiveTripExists:
    return ActiveTripExists(
        f"Rider {rider_id} already has an active trip; finish or cancel it before requesting "
        "another."
    )


@dataclass(frozen=True)
class BookingRun:
    """Where a runner left a booking: its state now, and the refusal that ended it, if any."""

    saga: BookingSaga
    # The business error a step raised in this run (re-raised to in-process callers).
    refusal: FleetError | None = None
    # The trip, when this run created it: the caller answers with it without reading it back.
    trip: Trip | None = None


class _LeaseLost(Exception):
    """Another runner took the booking over (this one was too slow, or presumed dead)."""

    def __init__(self, saga: BookingSaga) -> None:
        super().__init__(f"booking {saga.id} is no longer this runner's")
        self.saga = saga


def _lease_seconds() -> int:
    return int(settings.FLEET_BOOKING_LEASE_SECONDS)


def _retry_delay_seconds(attempts: int) -> int:
    """Doubling with each run (1, 2, 4... s), capped by the platform's longest task delay."""
    cap = int(getattr(settings, "FLEET_TASK_MAX_DELAY_SECONDS", 600))
    return int(min(cap, 2 ** max(attempts - 1, 0)))


def _lease_take(saga: BookingSaga, now: datetime) -> UUID:
    """Make the locked ``saga`` this runner's for a lease period; counts one more attempt."""
    token = uuid.uuid4()
    saga.lease_token = token
    saga.lease_expires_at = now + timedelta(seconds=_lease_seconds())
    saga.attempts += 1
    saga.save()
    return token


def _error_text(exc: BaseException) -> tuple[str, str]:
    """A step error's code and sentence, for the booking's record."""
    if isinstance(exc, FleetError):
        return exc.code, exc.message[:ERROR_MAX_LENGTH]
    return type(exc).__name__, f"{type(exc).__name__}: {exc}"[:ERROR_MAX_LENGTH]


def _step_record(
    saga: BookingSaga,
    *,
    step: str,
    action: str,
    outcome: str,
    error: BaseException | None = None,
    also: tuple[str, ...] = (),
) -> None:
    """Append a step attempt (and the steps ``also`` done with it) to the booking's history.

    The caller holds the booking's row lock, so the numbering cannot race. The numbers are
    worked out by the insert itself, from the last one recorded: one statement, not two.
    """
    code, message = _error_text(error) if error is not None else ("", "")
    recorded = BookingSagaStep.objects.filter(saga_id=saga.pk).order_by("-number")
    last = Coalesce(Subquery(recorded.values("number")[:1]), 0)
    BookingSagaStep.objects.bulk_create(
        BookingSagaStep(
            saga=saga,
            number=last + (offset + 1),
            step=done,
            action=action,
            outcome=outcome,
            error_code=code,
            error=message,
        )
        for offset, done in enumerate((step, *also))
    )


def _finished(state: str) -> dict[str, Any]:
    """The changes that end a booking in ``state``: no runner holds it any more."""
    return {
        "state": state,
        "lease_token": None,
        "lease_expires_at": None,
        "finished_at": timezone.now(),
    }


def _compensation_start(step: str) -> str:
    """The first step to undo when the booking turns back at ``step``.

    The trip is created together with the confirmation, so a booking that turns back has no
    trip: undoing starts with the vehicle. A refused vehicle step is undone too: releasing is
    harmless when nothing was reserved, and it covers a slower runner's late reservation.
    """
    return BookingStep.RESERVE_VEHICLE if step == BookingStep.CREATE_TRIP else step


def _resume_later(saga_id: UUID, countdown: int) -> None:
    """Queue the booking's next run; never raises (it runs after commit).

    A broker outage is logged: the periodic resume finds the booking once its lease expires.
    (Django's own error logging for robust on_commit hooks fails on a functools.partial.)
    """
    # Imported here: the tasks module imports this one.
    from modules.trips.tasks import booking_saga_resume

    try:
        booking_saga_resume.apply_async((str(saga_id),), countdown=countdown)
    except Exception as exc:
        logger.warning(
            "booking %s: next run not queued (%s); the periodic resume takes it up",
            saga_id,
            exc,
            extra={"booking": str(saga_id)},
        )


class _Runner:
    """Advances one booking while holding its lease (``token``)."""

    def __init__(self, saga: BookingSaga, token: UUID) -> None:
        self.saga = saga
        self.token = token
        self.refusal: FleetError | None = None
        self.trip: Trip | None = None

    def run(self) -> BookingRun:
        try:
            while self.saga.state in BOOKING_UNFINISHED_STATES:
                going_on = (
                    self._forward() if self.saga.state == BookingState.RUNNING else self._back()
                )
                if not going_on:
                    break
        except _LeaseLost as lost:
            logger.warning(
                "booking %s was taken over by another runner",
                lost.saga.id,
                extra={"booking": str(lost.saga.id), "state": lost.saga.state},
            )
            self.saga = lost.saga
        except DATABASE_OUTAGES as exc:
            # The booking's own record could not be written: its lease runs out and the
            # periodic resume takes it up again.
            logger.warning(
                "booking %s paused: trips' database failed: %s",
                self.saga.id,
                exc,
                extra={"booking": str(self.saga.id)},
            )
        return BookingRun(saga=self.saga, refusal=self.refusal, trip=self.trip)

    # --- persistence, always under the booking's row lock and this runner's lease -------------

    def _store(self, **changes: Any) -> BookingSaga:
        """Store ``changes`` if this runner still holds the lease; the booking with them.

        One conditional update checks the lease and takes the booking's row lock for the rest
        of the transaction. While the lease holds nobody else changes the booking, so the
        runner's copy is the stored one and need not be read again. Raises ``_LeaseLost``,
        with the booking as stored, when another runner took it. The runner adopts the
        returned booking once the transaction has committed.
        """
        changes["updated_at"] = timezone.now()
        held = BookingSaga.objects.filter(pk=self.saga.pk, lease_token=self.token)
        if not held.update(**changes):
            raise _LeaseLost(BookingSaga.objects.get(pk=self.saga.pk))
        saga = copy.copy(self.saga)
        for field, value in changes.items():
            setattr(saga, field, value)
        return saga

    def _renewed(self) -> dict[str, Any]:
        """The change that extends this runner's lease by a lease period from now."""
        return {"lease_expires_at": timezone.now() + timedelta(seconds=_lease_seconds())}

    # --- forward -----------------------------------------------------------------------------

    def _forward(self) -> bool:
        step = self.saga.step
        try:
            if step == BookingStep.RESERVE_CREDIT:
                hold_id = self._credit_reserve()
                self._done(step, BookingStep.RESERVE_VEHICLE, hold_id=hold_id)
            elif step == BookingStep.RESERVE_VEHICLE:
                vehicle_id = self._vehicle_reserve()
                self._done(step, BookingStep.CREATE_TRIP, vehicle_id=vehicle_id)
            else:
                self._trip_create_and_confirm()
        except _LeaseLost:
            raise
        except ServiceUnavailable as exc:
            return self._interrupted(step, BookingStepAction.DO, exc)
        except FleetError as exc:
            self._refused(step, exc)
        except Exception as exc:
            return self._interrupted(step, BookingStepAction.DO, exc)
        return True

    def _credit_reserve(self) -> UUID:
        saga = self.saga
        rider = users_api.rider_get(rider_id=saga.rider_id)
        if not rider.is_active:
            raise RiderDeactivated(
                f"Rider {saga.rider_id} is deactivated and cannot request trips."
            )
        # Before any credit is held: the common refusal costs the rider nothing.
        active = Trip.objects.filter(rider_id=saga.rider_id, status__in=ACTIVE_TRIP_STATUSES)
        if active.exclude(id=saga.trip_id).exists():
            raise active_trip_conflict(saga.rider_id)
        hold = users_api.credit_hold(
            rider_id=saga.rider_id,
            amount=saga.credit_amount,
            reference=booking_credit_reference(trip_id=saga.trip_id),
        )
        if hold.status != "held":
            # Only a settled trip's hold is captured or released; this booking has no trip.
            raise Conflict(f"The booking's credit hold {hold.id} is already {hold.status}.")
        return hold.id

    def _vehicle_reserve(self) -> UUID:
        saga = self.saga
        vehicle = vehicles_api.vehicle_reserve_for_trip(
            trip_id=saga.trip_id, latitude=saga.origin_latitude, longitude=saga.origin_longitude
        )
        return vehicle.id

    def _done(self, step: str, next_step: str, **found: UUID) -> None:
        try:
            with module_atomic("trips"):
                saga = self._store(step=next_step, **found, **self._renewed())
                _step_record(
                    saga, step=step, action=BookingStepAction.DO, outcome=BookingStepOutcome.DONE
                )
        except _LeaseLost as lost:
            if lost.saga.state not in (BookingState.RUNNING, BookingState.CONFIRMED):
                # The new runner turned back, perhaps past this step already: what this
                # runner just did must not outlive the booking.
                try:
                    self._late_undo(step, lost.saga, **found)
                except Exception:
                    logger.exception(
                        "booking %s: undoing this runner's late %s failed",
                        lost.saga.id,
                        step,
                        extra={"booking": str(lost.saga.id), "step": step},
                    )
            raise
        self.saga = saga

    def _late_undo(self, step: str, current: BookingSaga, **found: UUID) -> None:
        if step == BookingStep.RESERVE_VEHICLE:
            vehicles_api.vehicle_release_for_trip(trip_id=current.trip_id)
        elif step == BookingStep.RESERVE_CREDIT:
            users_api.credit_release(hold_id=found["hold_id"])
        with module_atomic("trips"):
            saga = BookingSaga.objects.select_for_update().get(pk=current.pk)
            _step_record(
                saga, step=step, action=BookingStepAction.UNDO, outcome=BookingStepOutcome.DONE
            )

    def _trip_create_and_confirm(self) -> None:
        if self.saga.vehicle_id is None:
            raise RuntimeError(f"booking {self.saga.id} reached create_trip without a vehicle")
        with module_atomic("trips"):
            # Confirmed first: the lease is checked before the trip exists.
            saga = self._store(step=BookingStep.CONFIRM, **_finished(BookingState.CONFIRMED))
            trip = None
            if not Trip.objects.filter(id=saga.trip_id).exists():
                now = timezone.now()
                try:
                    # Created assigned: the vehicle is already reserved for it.
                    trip = Trip.objects.create(
                        id=saga.trip_id,
                        rider_id=saga.rider_id,
                        vehicle_id=saga.vehicle_id,
                        status=TripStatus.ASSIGNED,
                        origin_latitude=saga.origin_latitude,
                        origin_longitude=saga.origin_longitude,
                        destination_latitude=saga.destination_latitude,
                        destination_longitude=saga.destination_longitude,
                        requested_at=saga.created_at,
                        assigned_at=now,
                    )
                except IntegrityError as exc:
                    # Losing to another active trip of the rider is a refusal. No savepoint:
                    # the whole transaction goes, the confirmation with it.
                    if ACTIVE_TRIP_CONSTRAINT in str(exc):
                        raise active_trip_conflict(saga.rider_id) from None
                    raise
            _step_record(
                saga,
                step=BookingStep.CREATE_TRIP,
                also=(BookingStep.CONFIRM,),
                action=BookingStepAction.DO,
                outcome=BookingStepOutcome.DONE,
            )
        self.saga = saga
        self.trip = trip

    def _refused(self, step: str, exc: FleetError) -> None:
        self.refusal = exc
        code, message = _error_text(exc)
        if step == BookingStep.RESERVE_CREDIT:
            # Nothing was held yet (a hold for this booking would have been returned).
            turn = _finished(BookingState.COMPENSATED)
        else:
            turn = {
                "state": BookingState.COMPENSATING,
                "step": _compensation_start(step),
                **self._renewed(),
            }
        with module_atomic("trips"):
            saga = self._store(failure_code=code, failure_message=message, **turn)
            _step_record(
                saga,
                step=step,
                action=BookingStepAction.DO,
                outcome=BookingStepOutcome.REFUSED,
                error=exc,
            )
        self.saga = saga

    def _interrupted(self, step: str, action: str, exc: Exception) -> bool:
        """Record an outage; give up (compensate) or let go until the retry. True: go on."""
        log = (
            logger.warning
            if isinstance(exc, (ServiceUnavailable, *DATABASE_OUTAGES))
            else (logger.exception)
        )
        log(
            "booking %s: %s %s interrupted: %s",
            self.saga.id,
            action,
            step,
            exc,
            extra={"booking": str(self.saga.id), "step": step},
        )
        attempts = self.saga.attempts
        gives_up = (
            action == BookingStepAction.DO and attempts >= settings.FLEET_BOOKING_MAX_ATTEMPTS
        )
        delay = _retry_delay_seconds(attempts)
        if gives_up:
            message = _error_text(exc)[1]
            turn = {
                "failure_code": GAVE_UP,
                "failure_message": (
                    f"The booking could not finish after {attempts} attempts; the last "
                    f"one failed at {step} ({message})."
                )[:ERROR_MAX_LENGTH],
                "state": BookingState.COMPENSATING,
                "step": _compensation_start(step),
                **self._renewed(),
            }
        else:
            # Let go: nobody holds the booking until the retry is due.
            turn = {
                "lease_token": None,
                "lease_expires_at": timezone.now() + timedelta(seconds=delay),
            }
        with module_atomic("trips"):
            saga = self._store(**turn)
            _step_record(
                saga, step=step, action=action, outcome=BookingStepOutcome.INTERRUPTED, error=exc
            )
            if not gives_up:
                # robust: a broker outage must not undo the record; the periodic resume
                # finds the booking once the delay has passed.
                transaction.on_commit(
                    partial(_resume_later, saga.id, delay),
                    using=module_database("trips"),
                    robust=True,
                )
        self.saga = saga
        return gives_up

    # --- back --------------------------------------------------------------------------------

    def _back(self) -> bool:
        step = self.saga.step
        try:
            if step == BookingStep.RESERVE_VEHICLE:
                vehicles_api.vehicle_release_for_trip(trip_id=self.saga.trip_id)
            else:
                self._credit_release()
        except ServiceUnavailable as exc:
            return self._interrupted(step, BookingStepAction.UNDO, exc)
        except FleetError as exc:
            self._undo_refused(step, exc)
            return False
        except Exception as exc:
            return self._interrupted(step, BookingStepAction.UNDO, exc)
        if step == BookingStep.RESERVE_VEHICLE:
            turn = {"step": BookingStep.RESERVE_CREDIT, **self._renewed()}
        else:
            turn = _finished(BookingState.COMPENSATED)
        with module_atomic("trips"):
            saga = self._store(**turn)
            _step_record(
                saga, step=step, action=BookingStepAction.UNDO, outcome=BookingStepOutcome.DONE
            )
        self.saga = saga
        return True

    def _credit_release(self) -> None:
        saga = self.saga
        hold_id = saga.hold_id
        if hold_id is None:
            # The credit step's outcome is unknown (the runner died, or gave up, in it).
            found = users_api.credit_hold_find(
                rider_id=saga.rider_id, reference=booking_credit_reference(trip_id=saga.trip_id)
            )
            if found is None:
                return
            hold_id = found.id
        users_api.credit_release(hold_id=hold_id)

    def _undo_refused(self, step: str, exc: FleetError) -> None:
        """An undo the owning module refuses (a hold already captured): staff must look."""
        logger.error(
            "booking %s: undoing %s was refused: %s",
            self.saga.id,
            step,
            exc.message,
            extra={"booking": str(self.saga.id), "step": step},
        )
        with module_atomic("trips"):
            saga = self._store(**_finished(BookingState.FAILED))
            _step_record(
                saga,
                step=step,
                action=BookingStepAction.UNDO,
                outcome=BookingStepOutcome.REFUSED,
                error=exc,
            )
        self.saga = saga


# --- starting, resuming and recovering bookings -------------------------------------------------


def booking_start(
    *,
    rider_id: UUID,
    origin_latitude: Decimal,
    origin_longitude: Decimal,
    destination_latitude: Decimal,
    destination_longitude: Decimal,
    claim: bool = True,
) -> tuple[BookingSaga, UUID | None]:
    """Store a new booking, its trip id chosen now; with ``claim``, leased to the caller.

    Returns the booking and the caller's lease token (``None`` without ``claim``: the booking
    waits for a runner, ``booking_saga_resume``). The route is checked here, so a bad one is a
    400 and no booking.
    """
    position_check(latitude=origin_latitude, longitude=origin_longitude, prefix="origin_")
    position_check(
        latitude=destination_latitude, longitude=destination_longitude, prefix="destination_"
    )
    if (origin_latitude, origin_longitude) == (destination_latitude, destination_longitude):
        raise InvalidRequest(
            "The destination must differ from the origin.", field="destination_latitude"
        )
    now = timezone.now()
    saga = BookingSaga(
        rider_id=rider_id,
        origin_latitude=origin_latitude,
        origin_longitude=origin_longitude,
        destination_latitude=destination_latitude,
        destination_longitude=destination_longitude,
        credit_amount=booking_credit_amount(),
        created_at=now,
        lease_expires_at=now,
    )
    token = None
    if claim:
        token = uuid.uuid4()
        saga.lease_token = token
        saga.lease_expires_at = now + timedelta(seconds=_lease_seconds())
        saga.attempts = 1
    # One statement: it needs no transaction of its own.
    saga.save(force_insert=True)
    return saga, token


def booking_run(
    *,
    rider_id: UUID,
    origin_latitude: Decimal,
    origin_longitude: Decimal,
    destination_latitude: Decimal,
    destination_longitude: Decimal,
) -> BookingRun:
    """Book a trip: start the booking and run its steps now, each one stored as it ends.

    Returns confirmed, compensated (with the refusal), or still running after an outage (it
    is resumed later). Must not be called inside a transaction of the trips database when
    the other modules may live elsewhere: each step commits on its own.
    """
    saga, token = booking_start(
        rider_id=rider_id,
        origin_latitude=origin_latitude,
        origin_longitude=origin_longitude,
        destination_latitude=destination_latitude,
        destination_longitude=destination_longitude,
    )
    assert token is not None  # noqa: S101 - claimed above
    return _Runner(saga, token).run()


def _claim(saga_id: UUID, *, waiting_too: bool) -> tuple[BookingSaga, UUID] | None:
    """Take the lease of an unfinished booking nobody works on; ``None`` if someone does.

    A lease that expired is free. With ``waiting_too``, so is a booking waiting out a retry
    delay (nobody holds its lease): resumed now rather than when the delay ends.
    """
    now = timezone.now()
    with module_atomic("trips"):
        saga = (
            BookingSaga.objects.select_for_update(skip_locked=True)
            .filter(pk=saga_id, state__in=BOOKING_UNFINISHED_STATES)
            .first()
        )
        if saga is None:
            return None
        expired = saga.lease_expires_at is not None and saga.lease_expires_at <= now
        if not (expired or (waiting_too and saga.lease_token is None)):
            return None
        return saga, _lease_take(saga, now)


def booking_saga_resume(*, saga_id: UUID) -> BookingRun | None:
    """Carry an unfinished booking on (forward, or back if it is compensating).

    ``None`` when there is nothing to do: it is finished, or another runner holds its lease.
    Safe to call any number of times, from any process.
    """
    claimed = _claim(saga_id, waiting_too=True)
    if claimed is None:
        return None
    return _Runner(*claimed).run()


def booking_saga_resume_stale(*, limit: int = RESUME_STALE_BATCH) -> int:
    """Resume unfinished bookings whose lease expired (a runner died, or a retry is due).

    One at a time: each is taken under a row lock that concurrent sweeps skip, leased, then
    run. Returns how many were taken up.
    """
    taken = 0
    while taken < limit:
        now = timezone.now()
        with module_atomic("trips"):
            saga = (
                BookingSaga.objects.select_for_update(skip_locked=True)
                .filter(state__in=BOOKING_UNFINISHED_STATES, lease_expires_at__lte=now)
                .order_by("lease_expires_at")
                .first()
            )
            if saga is None:
                break
            token = _lease_take(saga, now)
        taken += 1
        _Runner(saga, token).run()
    return taken


def booking_saga_compensate(*, saga_id: UUID, reason: str) -> BookingRun:
    """Staff turn a stuck booking back: undo what it did, in reverse, and end it compensated.

    For a booking that is running with nobody on it (waiting for a retry, or its runner
    died), or that ``failed`` because an undo was refused (tried again). Raises
    ``BookingNotFound``, or ``Conflict`` while a runner holds it or once it is finished.
    """
    now = timezone.now()
    with module_atomic("trips"):
        saga = BookingSaga.objects.select_for_update().filter(pk=saga_id).first()
        if saga is None:
            raise BookingNotFound(f"There is no booking {saga_id}.")
        held = saga.lease_token is not None and (
            saga.lease_expires_at is not None and saga.lease_expires_at > now
        )
        if saga.state not in (*BOOKING_UNFINISHED_STATES, BookingState.FAILED) or held:
            raise Conflict(
                f"Booking {saga.id} is {saga.state}"
                + (f" and being worked on until {saga.lease_expires_at:%H:%M:%S}" if held else "")
                + "; only a stuck or failed booking can be compensated."
            )
        if saga.state == BookingState.RUNNING:
            saga.failure_code = STAFF_COMPENSATED
            saga.failure_message = reason[:ERROR_MAX_LENGTH]
            saga.step = _compensation_start(saga.step)
        saga.state = BookingState.COMPENSATING
        saga.finished_at = None
        token = _lease_take(saga, now)
    return _Runner(saga, token).run()


def booking_saga_resume_now(*, saga_id: UUID) -> BookingRun:
    """Staff carry a stuck booking on now; ``Conflict`` while a runner holds it or once done."""
    run = booking_saga_resume(saga_id=saga_id)
    if run is None:
        saga = BookingSaga.objects.filter(pk=saga_id).first()
        if saga is None:
            raise BookingNotFound(f"There is no booking {saga_id}.")
        raise Conflict(
            f"Booking {saga.id} is {saga.state}"
            + (" and being worked on" if saga.state in BOOKING_UNFINISHED_STATES else "")
            + "; nothing to resume."
        )
    return run


def booking_trip_or_refusal(run: BookingRun) -> Trip:
    """The booked trip, or the reason there is none, for callers that book in-process."""
    saga = run.saga
    if saga.state == BookingState.CONFIRMED:
        return run.trip or Trip.objects.get(id=saga.trip_id)
    if saga.state in (BookingState.COMPENSATED, BookingState.FAILED):
        if run.refusal is not None:
            raise run.refusal
        raise Conflict(saga.failure_message or f"Booking {saga.id} was not confirmed.")
    raise BookingPending(
        f"Booking {saga.id} is still {saga.state}: a module it needs did not answer. It goes "
        f"on by itself; follow it at /api/v1/trips/bookings/{saga.id}/.",
        booking_id=saga.id,
    )
