"""The trips module's tasks: resuming bookings whose runner stopped (decision 0008).

Both are idempotent, as every task must be (decision 0007): a booking is advanced only by
the holder of its lease, and each of its steps finds what an earlier attempt did.
"""

from uuid import UUID

from celery import shared_task

from modules.trips import booking


@shared_task(name="trips.booking_saga_resume")
def booking_saga_resume(saga_id: str) -> str | None:
    """Carry one booking on; its state afterwards, or ``None`` if someone else runs it."""
    run = booking.booking_saga_resume(saga_id=UUID(saga_id))
    return None if run is None else run.saga.state


@shared_task(name="trips.booking_saga_resume_stale")
def booking_saga_resume_stale() -> int:
    """Take up bookings whose lease expired, one at a time (run by beat)."""
    return booking.booking_saga_resume_stale()
