"""How long the full boundary check takes: over this repository and over a synthetic project.

    .venv/bin/python -m bench.boundaries [--runs 7] [--synthetic 20x100 ...]

The full check is what ``python manage.py modules check`` runs: the import check (grimp) plus
the ORM rules behind the system checks tagged ``boundaries``. For each project it reports

- in-process: the median of ``--runs`` checks in one process after Django has started, split
  into imports and system checks (the first, cold run is shown apart);
- end to end: the median wall time of ``python manage.py modules check`` as CI runs it,
  Python and Django start-up included.

The synthetic project (by default 2,000 files across 20 modules, see
``bench/synthetic_project.py``) is regenerated into ``.data/bench-synthetic`` first. The
checks never connect to the database, so ``DATABASE_URL`` only has to parse. Nothing here
asserts on time; the figures we measured are in ``docs/boundaries.md``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.synthetic_project import generate

ROOT = Path(__file__).resolve().parent.parent
SYNTHETIC = ROOT / ".data" / "bench-synthetic"


def measure(runs: int) -> dict[str, Any]:
    """Run inside a child process whose DJANGO_SETTINGS_MODULE names the project to check."""
    started = time.perf_counter()
    import django

    django.setup()
    setup = time.perf_counter() - started

    from monolith.platform.boundaries.imports import import_violations
    from monolith.platform.management.commands.modules import system_check_violations
    from monolith.platform.registry import fleet_modules

    imports, system_checks, violations = [], [], 0
    for _ in range(runs + 1):  # the first run is the cold one
        start = time.perf_counter()
        found = import_violations()
        middle = time.perf_counter()
        found += system_check_violations()
        end = time.perf_counter()
        imports.append(middle - start)
        system_checks.append(end - middle)
        violations = len(found)
    modules = fleet_modules()
    files = sum(len(list(Path(config.path).rglob("*.py"))) for config in modules)
    return {
        "setup": setup,
        "imports": imports,
        "system_checks": system_checks,
        "modules": len(modules),
        "files": files,
        "violations": violations,
    }


def child_environment(pythonpath: list[Path]) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://localhost/boundaries-bench")
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def bench_project(name: str, settings: str, pythonpath: list[Path], runs: int) -> dict[str, Any]:
    env = child_environment(pythonpath)
    child = subprocess.run(
        [sys.executable, "-m", "bench.boundaries", "--measure", "--runs", str(runs)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": settings},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "django", "modules", "check", f"--settings={settings}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        walls.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{name}: modules check failed:\n{done.stderr}")
    result["wall"] = walls
    result["name"] = name
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--synthetic",
        action="append",
        metavar="MODULESxFILES",
        help="synthetic projects to generate and check (default: 20x100, i.e. 2,000 files); "
        "repeat for more sizes, or pass 0 for none",
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.runs)))  # noqa: T201
        return 0

    results = [bench_project("this repository", "monolith.settings.test", [ROOT], args.runs)]
    for size in args.synthetic or ["20x100"]:
        if size == "0":
            continue
        modules, _, files = size.partition("x")
        generate(SYNTHETIC, modules=int(modules), files_per_module=int(files), violations=0)
        results.append(
            bench_project(
                f"synthetic {modules}x{files}",
                "synthetic_fleet.settings",
                [SYNTHETIC, ROOT],
                args.runs,
            )
        )
    print(  # noqa: T201
        f"{'project':<24}{'files':>6}{'modules':>8}{'imports':>10}{'system':>9}"
        f"{'in-process':>12}{'cold':>8}{'modules check':>15}"
    )
    for result in results:
        warm_imports = result["imports"][1:]
        warm_checks = result["system_checks"][1:]
        warm_total = [a + b for a, b in zip(warm_imports, warm_checks, strict=True)]
        cold = result["imports"][0] + result["system_checks"][0]
        print(  # noqa: T201
            f"{result['name']:<24}{result['files']:>6}{result['modules']:>8}"
            f"{statistics.median(warm_imports):>9.3f}s{statistics.median(warm_checks):>8.3f}s"
            f"{statistics.median(warm_total):>11.3f}s{cold:>7.3f}s"
            f"{statistics.median(result['wall']):>14.2f}s"
        )
    print(  # noqa: T201
        f"Medians of {args.runs} runs. imports/system/in-process: one process after Django "
        "start-up; cold: its first run; modules check: wall time of the command, start-up "
        "included."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
