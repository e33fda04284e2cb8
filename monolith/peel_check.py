"""The peel-ability check: each fleet module's tests, with only it and its dependencies.

``python -m monolith.peel_check [module ...]`` runs, for every module (or those named),
``pytest modules/<module>`` under ``monolith.settings.peel``, which installs the module and the
modules it declares, and puts its tables on a database of their own. Exits non-zero if any
module fails; prints one line per module.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_labels() -> list[str]:
    """The fleet modules as the settings install them (read, not repeated here)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.test")
    from django.conf import settings

    return [path.rsplit(".", 1)[-1] for path in settings.FLEET_MODULES]


def main(argv: list[str] | None = None) -> int:
    known = _module_labels()
    parser = argparse.ArgumentParser(prog="python -m monolith.peel_check", description=__doc__)
    parser.add_argument("modules", nargs="*", metavar="module", help=f"any of {', '.join(known)}")
    parser.add_argument("--pytest-args", default="-q -p no:randomly", help="passed to pytest")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(known))
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(known)}")

    failed = []
    for label in args.modules or known:
        env = dict(
            os.environ, FLEET_PEEL_MODULE=label, DJANGO_SETTINGS_MODULE="monolith.settings.peel"
        )
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", f"modules/{label}", *args.pytest_args.split()],
            cwd=ROOT,
            env=env,
            check=False,
        )
        verdict = (
            "peelable" if result.returncode == 0 else f"FAILED (pytest exit {result.returncode})"
        )
        print(f"peel {label}: {verdict} in {time.monotonic() - started:.1f} s", flush=True)  # noqa: T201
        if result.returncode != 0:
            failed.append(label)
    if failed:
        print(f"not peelable: {', '.join(failed)}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
