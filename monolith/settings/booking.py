"""The booking saga: how much credit a booking holds, and how stuck bookings are resumed.

Why each value is what it is: docs/decisions/0008-booking-saga.md.
"""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.environment import env_int, env_str


def _amount(name: str, default: str) -> Decimal:
    raw = env_str(name, default)
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an amount of money.") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ImproperlyConfigured(f"{name}={raw!r} must be above zero, in whole cents.")
    return amount


# The credit a booking holds on the rider's wallet until billing settles the trip: roughly
# what a typical city ride costs, so a rider who cannot pay for one is told before a vehicle
# drives out. Billing captures the fare from it (or releases it) once the trip is over.
FLEET_BOOKING_CREDIT_HOLD = _amount("FLEET_BOOKING_CREDIT_HOLD", "10.00")

# A runner (the booking request, or a worker resuming) holds a booking's lease while it works
# on it and renews it after every step. Longer than any one step takes (a few database
# statements), short enough that a booking whose runner died is resumed within a minute.
FLEET_BOOKING_LEASE_SECONDS = env_int("FLEET_BOOKING_LEASE_SECONDS", 30)
# After this many runs that each ended in an outage, a booking gives up and is compensated.
FLEET_BOOKING_MAX_ATTEMPTS = env_int("FLEET_BOOKING_MAX_ATTEMPTS", 6)
# How often beat looks for bookings whose lease expired.
FLEET_BOOKING_RESUME_EVERY_SECONDS = env_int("FLEET_BOOKING_RESUME_EVERY_SECONDS", 15)
# The Retry-After a client gets with a booking that is still going on (202 from the booking
# request, or the booking polled): a booking interrupted once is run again after 1 s, so a
# client polling after 2 s usually finds it finished, without hammering the endpoint.
FLEET_BOOKING_POLL_SECONDS = env_int("FLEET_BOOKING_POLL_SECONDS", 2)

if FLEET_BOOKING_LEASE_SECONDS < 1 or FLEET_BOOKING_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(
        "FLEET_BOOKING_LEASE_SECONDS and FLEET_BOOKING_MAX_ATTEMPTS must be at least 1."
    )
if FLEET_BOOKING_RESUME_EVERY_SECONDS < 1 or FLEET_BOOKING_POLL_SECONDS < 1:
    raise ImproperlyConfigured(
        "FLEET_BOOKING_RESUME_EVERY_SECONDS and FLEET_BOOKING_POLL_SECONDS must be at least 1."
    )

# This file's beat entries; base.py assembles CELERY_BEAT_SCHEDULE (celery.beat_schedule).
CELERY_BEAT_BOOKING = {
    "trips.booking_saga_resume_stale": {
        "task": "trips.booking_saga_resume_stale",
        "schedule": float(FLEET_BOOKING_RESUME_EVERY_SECONDS),
    },
}
