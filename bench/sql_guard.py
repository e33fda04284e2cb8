"""Cost of the runtime SQL guard per statement, off against on, on the database DATABASE_URL names.

Run with DATABASE_URL set (or inside the embedded environment):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet_bench \
        .venv/bin/python -m bench.sql_guard --queries 20000 --runs 5

It migrates, registers one vehicle, then reads it ``--queries`` times per run through the ORM,
two ways:

- issued by module code: ``vehicles.api.vehicle_get`` (the guard walks the stack up to the
  vehicles selector, sees the table is the issuer's own and lets the statement through);
- issued by platform code: the same read from this script (the guard walks the whole stack,
  finds no module frame and does not judge it).

Three figures for each:

1. end to end, off (not installed) against on (installed, raise mode): wall-clock and process
   CPU time per query; off and on alternate in blocks (ABBA order) so drift hits both alike;
   median of ``--runs`` runs. On a shared machine the wall-clock figure is noise-bound.
2. in place: the guard's judgement timed inside the real ORM stack on every one of the reads
   (a timing wrapper calls it with a no-op execute), median; this is the added cost per statement.
3. the wrapper alone around a no-op execute with the SQL string already cached, shallow stack.

Prints the figures; nothing here asserts on time.
"""

import argparse
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
    # The debug cursor would record every query and dominate the figures.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _timed(call: Callable[[], Any], count: int) -> tuple[float, float]:
    """Wall-clock and process CPU seconds for ``count`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _reads() -> dict[str, Callable[[], Any]]:
    from django.apps import apps
    from django.core.management import call_command

    from modules.vehicles import api as vehicles_api

    call_command("migrate", verbosity=0)
    vin = vehicles_api.vin_complete("1B3HB48B0GD500017")
    vehicle = vehicles_api.vehicle_find_by_vin(vin=vin) or vehicles_api.vehicle_register(
        vin=vin, make="Bench", model="Guard", seats=4
    )
    vehicle_model = apps.get_model("vehicles", "Vehicle")
    return {
        "issued by module code (vehicles.api.vehicle_get)": lambda: vehicles_api.vehicle_get(
            vehicle_id=vehicle.id
        ),
        "issued by platform code (not judged)": lambda: vehicle_model.objects.select_related(
            "firmware"
        ).get(pk=vehicle.id),
    }


def end_to_end(call: Callable[[], Any], queries: int, runs: int) -> dict[str, tuple[float, float]]:
    """Median seconds per run, off and on, as {"wall": (off, on), "cpu": (off, on)}."""
    from monolith.platform.boundaries.sql_guard import sql_guard_install, sql_guard_uninstall

    block = max(queries // 20, 1)
    _timed(call, block)  # warm-up
    wall_off: list[float] = []
    wall_on: list[float] = []
    cpu_off: list[float] = []
    cpu_on: list[float] = []
    for _ in range(runs):
        totals = {False: [0.0, 0.0], True: [0.0, 0.0]}
        for index in range(queries // block):
            for guarded in (False, True) if index % 2 == 0 else (True, False):
                if guarded:
                    sql_guard_install(mode="raise")
                else:
                    sql_guard_uninstall()
                wall, cpu = _timed(call, block)
                totals[guarded][0] += wall
                totals[guarded][1] += cpu
        wall_off.append(totals[False][0])
        wall_on.append(totals[True][0])
        cpu_off.append(totals[False][1])
        cpu_on.append(totals[True][1])
    sql_guard_uninstall()
    median = statistics.median
    return {
        "wall": (median(wall_off), median(wall_on)),
        "cpu": (median(cpu_off), median(cpu_on)),
    }


def in_place(call: Callable[[], Any], queries: int) -> tuple[float, float]:
    """Median and 90th percentile microseconds of the guard's judgement in the real stack."""
    from django.db import connection

    from monolith.platform.boundaries import sql_guard

    sql_guard.sql_guard_uninstall()
    sql_guard._Guard.mode = "raise"
    spent: list[int] = []

    def nothing(*args: Any) -> None:
        return None

    def timing(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter_ns()
        sql_guard.sql_guard(nothing, sql, params, many, context)
        spent.append(time.perf_counter_ns() - started)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(timing):
        for _ in range(queries):
            call()
    sql_guard.sql_guard_uninstall()
    return statistics.median(spent) / 1000, statistics.quantiles(spent, n=10)[-1] / 1000


def _module_function(module_name: str, source: str, **names: Any) -> Callable[[], Any]:
    """A function whose frames count as ``module_name``'s code."""
    namespace: dict[str, Any] = {"__name__": module_name, **names}
    exec(compile(source, f"<bench {module_name}>", "exec"), namespace)  # noqa: S102
    function: Callable[[], Any] = namespace["probe"]
    return function


def _at_depth(depth: int, call: Callable[[], Any]) -> Any:
    """``call()`` run with ``depth`` more frames on the stack (a deep view, a Celery worker)."""
    return call() if depth == 0 else _at_depth(depth - 1, call)


def wrapper_alone(number: int, repeat: int) -> dict[str, float]:
    """Microseconds per call of the wrapper around a no-op execute, the SQL already cached."""
    from django.apps import apps

    from monolith.platform.boundaries import sql_guard

    sql_guard.sql_guard_install(mode="raise")
    own_sql = str(apps.get_model("vehicles", "Vehicle").objects.filter(pk=1).query)
    platform_sql = 'SELECT "accounts_user"."id" FROM "accounts_user" WHERE "id" = %s'

    def execute(sql: str, params: Any, many: bool, context: Any) -> None:
        return None

    call = "def probe():\n    return wrapper(execute, sql, None, False, None)\n"
    direct = "def probe():\n    return execute(sql, None, False, None)\n"
    wrapper = sql_guard.sql_guard
    module_probe = _module_function(
        "modules.vehicles.bench_probe", call, wrapper=wrapper, execute=execute, sql=own_sql
    )
    platform_probe = _module_function(
        "bench.platform_probe", call, wrapper=wrapper, execute=execute, sql=own_sql
    )
    cases = [
        (
            "no wrapper (execute called directly)",
            _module_function("modules.vehicles.bench_probe", direct, execute=execute, sql=own_sql),
            0,
        ),
        ("module code, own table (walk ends at the caller)", module_probe, 0),
        ("platform code, module table (whole stack walked)", platform_probe, 0),
        ("platform code, module table, 60 more frames on the stack", platform_probe, 60),
        (
            "platform tables only (no walk)",
            _module_function(
                "bench.platform_probe", call, wrapper=wrapper, execute=execute, sql=platform_sql
            ),
            0,
        ),
    ]
    figures: dict[str, float] = {}
    for label, probe, depth in cases:
        probe()

        def measure(probe: Callable[[], Any] = probe) -> list[float]:
            return timeit.repeat(probe, number=number, repeat=repeat)

        figures[label] = statistics.median(_at_depth(depth, measure)) / number * 1e6
    sql_guard.sql_guard_uninstall()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200_000, help="wrapper-alone calls")
    args = parser.parse_args()
    _setup()
    out = sys.stdout.write

    reads = _reads()
    out(f"ORM reads against PostgreSQL, {args.queries} per run, median of {args.runs} runs\n")
    for label, call in reads.items():
        figures = end_to_end(call, args.queries, args.runs)
        out(f"  {label}\n")
        for clock, (off, on) in figures.items():
            off_us, on_us = off / args.queries * 1e6, on / args.queries * 1e6
            out(
                f"    {clock:4}: off {off_us:7.1f} us/query, on {on_us:7.1f} us/query, "
                f"difference {on_us - off_us:+6.1f} us ({(on - off) / off * 100:+.1f}%)\n"
            )
        median, p90 = in_place(call, args.queries)
        out(f"    guard's judgement in place: median {median:.2f} us, p90 {p90:.2f} us\n")
    out(f"Wrapper alone, no-op execute, cached SQL, median of 5 x {args.calls} calls\n")
    for label, micros in wrapper_alone(args.calls, 5).items():
        out(f"  {label}: {micros:.2f} us/call\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
