"""Settings for ``bench.event_throughput``: the project's, plus the measurement-only module.

Both the benchmark's publishing process and its Celery worker run with these, so both know
the benchmark's event, outbox and inbox. ``BENCH_TASK_LOGS=off`` silences Celery's two INFO
lines per task ("received", "succeeded"), to measure what they cost.
"""

import os

from monolith.settings.base import *  # noqa: F403
from monolith.settings.base import FLEET_MODULES, INSTALLED_APPS, LOGGING

FLEET_MODULES = [*FLEET_MODULES, "bench.event_module"]
INSTALLED_APPS = [*INSTALLED_APPS, "bench.event_module"]

if os.environ.get("BENCH_TASK_LOGS") == "off":
    LOGGING["loggers"].update(
        {name: {"level": "WARNING"} for name in ("celery.app.trace", "celery.worker.strategy")}
    )
