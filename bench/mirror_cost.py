"""What keeping a module's data in step costs (monolith.platform.outbox.mirror and .feed).

Run inside the embedded environment (or with DATABASE_URL/CELERY_BROKER_URL set; use a
database of its own, the run writes trips into it):

    .venv/bin/python -m monolith.embedded -- .venv/bin/python -m bench.mirror_cost

Three figures, each the median of ``--rounds`` rounds:

- **Write cost of capture**: single-row ``UPDATE``s of trips, one transaction each (what a
  request does), with the capture trigger installed ("on") and not ("off"), the two modes
  alternating round by round so load from other processes hits both alike; p50 and p90 per
  write and the on/off ratio of the p50s.
- **Apply rate**: the row changes the "on" rounds captured, applied back in pages of
  ``FLEET_EVENT_FEED_PAGE`` rows, one transaction per page (what ``events pull`` does with a
  page), in rows per second.
- **Serving a page**: ``feed_page`` of a page of row changes (the feed endpoint's work, less
  HTTP), in milliseconds.

Nothing here asserts on time.
"""

import argparse
import os
import statistics
import sys
import time
import uuid


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per mode (default 5)")
    parser.add_argument("--writes", type=int, default=500, help="writes per round (default 500)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.writes < 1:
        parser.error("--rounds and --writes must be at least 1")
    _setup()

    from django.conf import settings
    from django.db import transaction

    from modules.trips.models import Outbox, Trip
    from monolith.platform.outbox.feed import ROWS, feed_page
    from monolith.platform.outbox.machinery import outbox_relay_run, row_change_name
    from monolith.platform.outbox.mirror import (
        mirror_install,
        mirror_remove,
        row_changes_apply,
    )

    mirror_remove("trips")
    trips = [
        Trip(
            rider_id=uuid.uuid4(),
            origin_latitude="52.52",
            origin_longitude="13.40",
            destination_latitude="52.50",
            destination_longitude="13.45",
        )
        for _ in range(args.writes)
    ]
    Trip.objects.bulk_create(trips)
    page = int(settings.FLEET_EVENT_FEED_PAGE)
    timings: dict[str, list[float]] = {"off": [], "on": []}
    apply_rates: list[float] = []
    serve_ms: list[float] = []
    for round_number in range(args.rounds):
        for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
            (mirror_install if mode == "on" else mirror_remove)("trips")
            for index, trip in enumerate(trips):
                note = f"round {round_number} {mode} {index}"
                started = time.perf_counter()
                Trip.objects.filter(pk=trip.pk).update(cancel_note=note)
                timings[mode].append(time.perf_counter() - started)
        mirror_remove("trips")
        captured = Outbox.objects.filter(name=row_change_name("trips"), relayed_at__isnull=True)
        changes = [row.payload for row in captured.order_by("occurred_at")]
        outbox_relay_run("trips", send=lambda **delivery: None, limit=len(changes) or 1)
        started = time.perf_counter()
        served = feed_page("trips", after=0, limit=page, kinds={ROWS})
        serve_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for offset in range(0, len(changes), page):
            with transaction.atomic():
                row_changes_apply("trips", changes[offset : offset + page])
        apply_rates.append(len(changes) / (time.perf_counter() - started))
        Outbox.objects.filter(name=row_change_name("trips")).delete()
        if len(served["rows"]) != min(page, len(changes)):
            raise SystemExit(f"the page held {len(served['rows'])} rows, not {len(changes)}")

    load = os.getloadavg()
    lines = [f"load {load[0]:.1f} {load[1]:.1f}; {args.rounds} rounds x {args.writes} writes"]
    for mode in ("off", "on"):
        values = timings[mode]
        lines.append(
            f"write, capture {mode:>3}: p50 {_percentile(values, 0.5) * 1e3:.3f} ms, "
            f"p90 {_percentile(values, 0.9) * 1e3:.3f} ms"
        )
    ratio = _percentile(timings["on"], 0.5) / _percentile(timings["off"], 0.5)
    lines += [
        f"write cost of capture: p50 on/off {ratio:.2f}x",
        f"apply: median {statistics.median(apply_rates):,.0f} row changes/s (pages of {page})",
        f"serve a page of {page} row changes: median {statistics.median(serve_ms):.1f} ms",
    ]
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
