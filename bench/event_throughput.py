"""Events through outbox, broker and a real Celery worker: throughput, delay, and its parts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet_bench \\
        CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.event_throughput --runs 3

It runs with ``bench.event_settings`` (the project's settings plus ``bench.event_module``, a
measurement-only module whose handler does nothing), migrates that module, starts a Celery
worker process on a queue of its own (``--concurrency`` pool processes, 2 by default) and,
for each run:

- **throughput**: publishes ``--events`` events as fast as this process can, each in a
  transaction of its own (as a request would: ``publish`` in ``module_atomic``, the relay queued
  after commit), and times first publish to last handled (the inbox's ``processed_at``);
- **drain**: publishes ``--events`` with the after-commit relay off, then queues the relay and
  times the backlog through relay, broker and worker;
- **delay**: publishes at a fixed ``--rate`` (200/s) for ``--seconds`` and reports p50/p99 of
  handled minus published (``processed_at - occurred_at``).

Events are spread over ``--aggregates`` aggregates in turn, so each one after the first round
has a predecessor to wait for (order per aggregate). Each phase also reports CPU time per
event of each part and the tasks the worker ran per event (deliveries, relays).
``--profile`` times the parts in this process instead (publish, relay, task publish,
delivery). Nothing here asserts on time.
"""

import argparse
import os
import resource
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, cast

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.event_settings"

import django

WORKER_ARGS = ("--without-mingle", "--without-gossip", "--without-heartbeat")
TABLES = ("benchmark_outbox", "benchmark_inbox", "benchmark_parkeddelivery")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the delay run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the delay run")
    parser.add_argument("--aggregates", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="worker processes to start")
    parser.add_argument("--pool", default=None, help="the worker's --pool (default prefork)")
    parser.add_argument(
        "--prefetch",
        type=int,
        default=None,
        help="the worker's --prefetch-multiplier (default: the setting, 1)",
    )
    parser.add_argument("--broker", default=None, help="broker URL (default: CELERY_BROKER_URL)")
    parser.add_argument(
        "--only", choices=("throughput", "drain", "delay"), action="append", default=None
    )
    parser.add_argument("--profile", action="store_true", help="time the parts in-process")
    args = parser.parse_args()
    if args.broker:
        os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django.setup()

    from django.core.management import call_command

    call_command("migrate", "benchmark", verbosity=0)
    if args.profile:
        _profile(args)
        return 0
    phases = args.only or ["throughput", "drain", "delay"]
    with _workers(args) as workers:
        _METER.worker_pgids = [worker.pid for worker in workers]
        _METER.worker_nodes = [f"{worker.hostname}@{socket.gethostname()}" for worker in workers]
        results: dict[str, list[dict[str, float]]] = {phase: [] for phase in phases}
        for run in range(1, args.runs + 1):
            for phase in phases:
                result = PHASES[phase](args)
                results[phase].append(result)
                print(f"run {run} {phase}: {_format(result)}", flush=True)  # noqa: T201
    print("medians:")  # noqa: T201
    for phase, runs in results.items():
        medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"  {phase}: {_format(medians)}")  # noqa: T201
    return 0


def _format(result: dict[str, float]) -> str:
    return ", ".join(
        f"{key} {value:,.0f}" if value >= 100 else f"{key} {value:.2f}"
        for key, value in result.items()
    )


# --- the worker and the tables ---------------------------------------------------------------


@contextmanager
def _workers(args: argparse.Namespace) -> Iterator[list[Any]]:
    """``--workers`` Celery worker processes on a queue of their own."""
    from django.conf import settings
    from django.db import connection
    from kombu import Connection

    from monolith.celery import app
    from monolith.platform.deployable_process import database_url
    from monolith.platform.worker_process import celery_worker

    queue = f"bench-events-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    app.conf.task_default_queue = queue
    url = settings.CELERY_BROKER_URL
    options: dict[str, Any] = {}
    if url.startswith("redis"):
        # A key prefix of the run's own: what it leaves on a shared Redis (bindings,
        # bookkeeping) goes with it at the end.
        options = {"global_keyprefix": f"{queue}:"}
        env["CELERY_BROKER_KEY_PREFIX"] = f"{queue}:"
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, **options}
    extra = (
        *WORKER_ARGS,
        *([f"--prefetch-multiplier={args.prefetch}"] if args.prefetch else []),
        *([f"--pool={args.pool}"] if args.pool else []),
    )
    try:
        with ExitStack() as stack:
            workers = [
                stack.enter_context(
                    celery_worker(
                        env, queues=[queue], concurrency=args.concurrency, extra_args=extra
                    )
                )
                for _ in range(args.workers)
            ]
            yield workers
    finally:
        with Connection(url, transport_options=options) as broker:
            channel: Any = broker.default_channel
            channel.queue_delete(queue)
            channel.exchange_delete(queue)
        if options:
            with Connection(url) as broker:
                client = cast(Any, broker.default_channel).client
                for key in list(client.scan_iter(match=f"{queue}:*")):
                    client.delete(key)


# --- CPU time, which a shared machine's load does not change much ------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # After the command name (which may hold spaces): state, ppid, pgrp, ...
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pids: Iterator[int] | list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        fields = _proc_stat(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return found


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


def _broker_server() -> list[int]:
    """The broker's server process on this machine (shared with whatever else uses it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() in {"redis-server", "beam.smp"}:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _database_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def _tasks_run(nodes: list[str]) -> dict[str, int]:
    """Tasks the workers ``nodes`` have run so far, by name (their remote-control stats)."""
    from monolith.celery import app

    if not nodes:
        return {}
    replies = app.control.inspect(destination=nodes, timeout=2.0).stats() or {}
    totals: dict[str, int] = {}
    for stats in replies.values():
        for name, count in stats.get("total", {}).items():
            totals[name] = totals.get(name, 0) + int(count)
    return totals


class CpuMeter:
    """CPU seconds spent by this process (the publisher), the worker's process group and
    the PostgreSQL backends serving this database, between ``start()`` and ``per_event()``;
    and the tasks the workers ran per event, by kind (a delivery that waited for its
    predecessor runs again: deliveries per event above 1 are those waits)."""

    def __init__(self) -> None:
        self.worker_pgids: list[int] = []
        self.worker_nodes: list[str] = []
        self.before: dict[str, dict[int, float]] = {}
        self.tasks_before: dict[str, int] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "publisher": {0: usage.ru_utime + usage.ru_stime},
            "worker": _cpu_seconds([pid for pgid in self.worker_pgids for pid in _group(pgid)]),
            "worker main": _cpu_seconds(self.worker_pgids),
            "postgres": _cpu_seconds(_database_backends()),
            "broker server": _cpu_seconds(_broker_server()),
        }

    def start(self) -> None:
        self.tasks_before = _tasks_run(self.worker_nodes)
        self.before = self._sample()

    def per_event(self, count: int) -> dict[str, float]:
        after = self._sample()
        spent = {}
        for part, now in after.items():
            was = self.before.get(part, {})
            seconds = sum(value - was.get(pid, 0.0) for pid, value in now.items())
            spent[f"cpu {part} ms/event"] = seconds / count * 1000
        tasks = _tasks_run(self.worker_nodes)
        for name in ("platform.deliver", "platform.outbox_relay"):
            ran = tasks.get(name, 0) - self.tasks_before.get(name, 0)
            spent[f"{name.split('.')[1]} tasks/event"] = ran / count
        return spent


_METER = CpuMeter()


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)}")


def _beacons(count: int, aggregates: int) -> Iterator[Any]:
    from bench.event_module.events import BeaconEmitted

    ids = [uuid.uuid4() for _ in range(max(1, aggregates))]
    for sequence in range(count):
        yield BeaconEmitted(beacon_id=ids[sequence % len(ids)], sequence=sequence)


def _publish(event: Any) -> None:
    from monolith.platform.events import publish
    from monolith.platform.registry import module_atomic

    with module_atomic("benchmark"):
        publish(event)


def _scalar(sql: str) -> Any:
    """One value from the benchmark's tables (the module is not installed when mypy reads
    this file, so its models' managers are unknown to it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _rows(sql: str) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _handled_count() -> int:
    return int(_scalar("SELECT count(*) FROM benchmark_inbox"))


def _wait_handled(count: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _handled_count() >= count:
            return
        time.sleep(0.05)
    parked = _scalar("SELECT count(*) FROM benchmark_parkeddelivery")
    raise SystemExit(
        f"only {_handled_count()} of {count} events handled within {timeout:.0f} s "
        f"({parked} parked)"
    )


def _span() -> tuple[float, float]:
    """(first occurred_at, last processed_at) as epoch seconds."""
    first = _scalar("SELECT min(occurred_at) FROM benchmark_outbox")
    last = _scalar("SELECT max(processed_at) FROM benchmark_inbox")
    return first.timestamp(), last.timestamp()


# --- the phases --------------------------------------------------------------------------------


def _throughput(args: argparse.Namespace) -> dict[str, float]:
    _reset()
    _METER.start()
    started = time.time()
    for event in _beacons(args.events, args.aggregates):
        _publish(event)
    published = time.time() - started
    _wait_handled(args.events, timeout=120 + args.events / 50)
    first, last = _span()
    return {
        "events/s": args.events / (last - first),
        "publish events/s": args.events / published,
        **_METER.per_event(args.events),
    }


def _drain(args: argparse.Namespace) -> dict[str, float]:
    from django.conf import settings

    from monolith.platform.tasks import outbox_relay

    _reset()
    settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = False
    try:
        for event in _beacons(args.events, args.aggregates):
            _publish(event)
    finally:
        settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = True
    _METER.start()
    started = time.time()
    # One relay per batch the backlog holds, as the commits would have queued them.
    for _ in range(-(-args.events // 500)):
        outbox_relay.delay("benchmark")
    _wait_handled(args.events, timeout=120 + args.events / 50)
    _, last = _span()
    return {"events/s": args.events / (last - started), **_METER.per_event(args.events)}


def _delay(args: argparse.Namespace) -> dict[str, float]:
    from django.db import connection

    _reset()
    count = int(args.rate * args.seconds)
    _METER.start()
    started = time.monotonic()
    late = 0
    for index, event in enumerate(_beacons(count, args.aggregates)):
        due = started + index / args.rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            late += 1
        _publish(event)
    achieved = count / (time.monotonic() - started)
    _wait_handled(count, timeout=120)
    cpu = _METER.per_event(count)
    with connection.cursor() as cursor:
        # Published to handled, and its two legs: to relayed (the relay sent the delivery
        # task), and from relayed to handled (broker, worker, inbox).
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM inbox.processed_at - outbox.occurred_at) * 1000, "
            "EXTRACT(EPOCH FROM outbox.relayed_at - outbox.occurred_at) * 1000, "
            "EXTRACT(EPOCH FROM inbox.processed_at - outbox.relayed_at) * 1000 "
            "FROM benchmark_inbox AS inbox JOIN benchmark_outbox AS outbox "
            "ON outbox.id = inbox.event_id"
        )
        rows = cursor.fetchall()
    delays = sorted(float(row[0]) for row in rows)
    quantiles = statistics.quantiles(delays, n=100)
    return {
        "rate/s": achieved,
        "p50 ms": statistics.median(delays),
        "p99 ms": quantiles[98],
        "max ms": delays[-1],
        "p50 to relayed ms": statistics.median(float(row[1]) for row in rows),
        "p50 relayed to handled ms": statistics.median(float(row[2]) for row in rows),
        **cpu,
    }


PHASES: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "throughput": _throughput,
    "drain": _drain,
    "delay": _delay,
}


# --- the parts, in this process ------------------------------------------------------------------


def _timed(what: str, count: int, run: Callable[[], Any]) -> float:
    """Run ``run`` and print its wall and CPU time (this process only) per event."""
    started, cpu = time.perf_counter(), time.process_time()
    run()
    wall = (time.perf_counter() - started) / count * 1000
    spent = (time.process_time() - cpu) / count * 1000
    print(f"  {what}: {wall:.3f} ms per event, {spent:.3f} ms CPU here")  # noqa: T201
    return wall


def _profile(args: argparse.Namespace) -> None:
    """Time each part of an event's way in this process, on the real database and broker."""
    from django.conf import settings

    from monolith.platform.outbox import machinery
    from monolith.platform.tasks import outbox_relay

    count = args.events
    queue = f"bench-profile-{uuid.uuid4().hex[:8]}"
    from monolith.celery import app

    app.conf.task_default_queue = queue
    deliveries: list[dict[str, Any]] = []
    print(f"parts, {count} events over {args.aggregates} aggregates:")  # noqa: T201
    try:
        for _ in range(args.runs):
            _reset()
            deliveries.clear()
            settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = False
            beacons = list(_beacons(count, args.aggregates))

            def publish_all(beacons: list[Any] = beacons) -> None:
                for beacon in beacons:
                    _publish(beacon)

            _timed("publish (insert + commit)", count, publish_all)
            settings.FLEET_OUTBOX_RELAY_AFTER_COMMIT = True
            _timed(
                "queue the relay after commit (one task)",
                count,
                lambda: [outbox_relay.delay("benchmark") for _ in range(count)],
            )
            # What a commit costs instead while earlier rows wait for a relay already queued.
            written = _rows("SELECT occurred_at, id FROM benchmark_outbox")

            def check_all(written: list[tuple[Any, ...]] = written) -> None:
                for occurred_at, event_id in written:
                    machinery.relay_after_commit("benchmark", written=(occurred_at, event_id))

            _timed("after commit, a relay already has the row (one query)", count, check_all)
            _timed(
                "relay: read, predecessors, mark (database)",
                count,
                lambda: _relay_all(machinery, lambda **d: deliveries.append(d)),
            )
            _timed(
                "send deliveries, a producer per message",
                count,
                lambda: _each(machinery.delivery_send, deliveries),
            )

            def send_batched() -> None:
                with machinery.delivery_sender() as send:
                    for delivery in deliveries:
                        send(**delivery)

            _timed("send deliveries, one producer per batch", count, send_batched)
            _timed(
                "deliver: inbox check, handler, inbox row, commit",
                count,
                lambda: _each(machinery.event_deliver, deliveries),
            )
            unrelayed = _scalar("SELECT count(*) FROM benchmark_outbox WHERE relayed_at IS NULL")
            assert unrelayed == 0  # noqa: S101
    finally:
        from kombu import Connection

        with Connection(settings.CELERY_BROKER_URL) as broker:
            channel: Any = broker.default_channel
            channel.queue_delete(queue)


def _each(call: Callable[..., Any], deliveries: list[dict[str, Any]]) -> None:
    for delivery in deliveries:
        call(**delivery)


def _relay_all(machinery: Any, send: Any) -> None:
    while machinery.outbox_relay_run("benchmark", send=send):
        pass


if __name__ == "__main__":
    sys.exit(main())
