"""Fleet health thresholds, overridable in settings for fleets with other needs.

``VEHICLES_LOW_BATTERY_PCT`` (default 20): below it a vehicle counts as low on battery and is
never reserved for a trip. ``VEHICLES_STALE_HEARTBEAT_SECONDS`` (default 300): a vehicle silent
for longer, or never heard from, counts as stale.
"""

from datetime import timedelta

from django.conf import settings

DEFAULT_LOW_BATTERY_PCT = 20
DEFAULT_STALE_HEARTBEAT_SECONDS = 5 * 60
# Vehicle clocks drift; readings stamped further ahead than this are refused.
TELEMETRY_CLOCK_SKEW = timedelta(minutes=5)


def low_battery_pct() -> int:
    return int(getattr(settings, "VEHICLES_LOW_BATTERY_PCT", DEFAULT_LOW_BATTERY_PCT))


def stale_heartbeat_after() -> timedelta:
    seconds = getattr(settings, "VEHICLES_STALE_HEARTBEAT_SECONDS", DEFAULT_STALE_HEARTBEAT_SECONDS)
    return timedelta(seconds=int(seconds))
