"""The strangler-fig toolkit: peel a fleet module off the monolith.

    python manage.py strangler extract <module>          write extracted/<module>/
    python manage.py strangler extract <module> --check  exit 1 if extracted/<module>/ is stale
    python manage.py strangler backfill <module> --target-database-url URL
                                                         copy the module's rows into the service's

``extract`` writes a deployable that serves the module and reaches every other one over HTTP:
settings, a gunicorn entry point, a Dockerfile and a kustomize base (docs/extraction.md). The
module's code is not copied; the service runs the same package. A module that is not a fleet
module, or that breaks a boundary rule, is refused with one line. Rerunning is safe: identical
files are left alone, a file that differs from what the generator writes (a hand edit) is
rewritten and named. Overlays beside the base are never touched.

``backfill`` copies the module's existing rows from the monolith's database into the service's
own (already migrated) database in batches, with a progress bar on a terminal, resumable after
an interruption, and ends with each table's row count and checksum on both sides (exit 1 on a
mismatch). ``--dry-run`` prints the plan and changes nothing; ``--verify-only`` only compares.
The target is ``--target-database-url`` or ``FLEET_BACKFILL_TARGET_URL`` (docs/extraction.md).
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from monolith.platform.boundaries.imports import ImportGraphError
from monolith.platform.boundaries.violations import Violation, project_relative
from monolith.platform.extraction.backfill import DEFAULT_BATCH_SIZE, BackfillError
from monolith.platform.extraction.backfill_command import backfill_run
from monolith.platform.extraction.spec import ServiceSpec, service_spec
from monolith.platform.extraction.tree import (
    base_strays,
    service_tree,
    tree_compare,
    tree_write,
)
from monolith.platform.management.commands.modules import boundary_violations
from monolith.platform.management.one_line_errors import OneLineErrorsCommand
from monolith.platform.registry import fleet_module, fleet_modules

ACTIONS = ("extract", "backfill")
TARGET_URL_VARIABLE = "FLEET_BACKFILL_TARGET_URL"


class Command(OneLineErrorsCommand):
    help = (
        "Peel a fleet module off the monolith: extract writes extracted/<module>/, backfill "
        "copies the module's rows into the service's database."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", help=f"one of {', '.join(ACTIONS)}")
        parser.add_argument("module", help="the fleet module's label, e.g. trips")
        parser.add_argument(
            "--check",
            action="store_true",
            help="write nothing; exit 1 if the files differ from what extract would write",
        )
        parser.add_argument(
            "--root",
            metavar="DIR",
            help="the folder that holds extracted/ (default: the project root)",
        )
        backfill = parser.add_argument_group("backfill")
        backfill.add_argument(
            "--target-database-url",
            metavar="URL",
            help=f"the service's database, migrated (default: ${TARGET_URL_VARIABLE})",
        )
        backfill.add_argument(
            "--batch-size",
            type=_positive,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows per batch, one target transaction each (default {DEFAULT_BATCH_SIZE:,})",
        )
        backfill.add_argument(
            "--dry-run", action="store_true", help="print the plan; copy and change nothing"
        )
        backfill.add_argument(
            "--verify-only",
            action="store_true",
            help="copy nothing; compare row counts and checksums (exit 1 on a mismatch)",
        )
        backfill.add_argument(
            "--restart",
            action="store_true",
            help="forget an interrupted run's checkpoints and start a new pass",
        )
        backfill.add_argument(
            "--no-progress", action="store_true", help="no progress bar, even on a terminal"
        )
        # Stops after this many batches, as an interruption would: for the tests.
        backfill.add_argument("--max-batches", type=_positive, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] not in ACTIONS:
            raise CommandError(
                f"unknown action {options['action']!r}: choose one of {', '.join(ACTIONS)}"
            )
        if options["action"] == "backfill":
            self.backfill(options)
            return
        root = Path(options["root"]) if options["root"] else Path(settings.BASE_DIR)
        spec = _extractable(options["module"])
        if options["check"]:
            self.extract_check(spec, root)
        else:
            self.extract(spec, root)

    def backfill(self, options: dict[str, Any]) -> None:
        spec = _service(options["module"])
        target_url = options["target_database_url"] or os.environ.get(TARGET_URL_VARIABLE, "")
        if not target_url:
            raise CommandError(
                f"give the service's database: --target-database-url or {TARGET_URL_VARIABLE}"
            )
        if options["dry_run"] and options["verify_only"]:
            raise CommandError("--dry-run and --verify-only do not go together")
        progress = None if options["no_progress"] or not sys.stderr.isatty() else sys.stderr
        try:
            matched = backfill_run(
                spec.label,
                target_url,
                out=self.stdout,
                progress=progress,
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                verify_only=options["verify_only"],
                restart=options["restart"],
                max_batches=options["max_batches"],
            )
        except BackfillError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            self.stderr.write(
                "Interrupted: every committed batch is kept; run the same command to resume."
            )
            sys.exit(130)
        if not matched:
            raise CommandError(
                f"the service's database differs from the monolith's for {spec.label} "
                "(MISMATCH above)"
            )

    def extract(self, spec: ServiceSpec, root: Path) -> None:
        tree = service_tree(spec)
        outcomes = tree_write(root, tree)
        for outcome in outcomes:
            if outcome.state == "created":
                self.stdout.write(f"  created   {outcome.path}")
            elif outcome.state == "rewritten":
                self.stdout.write(
                    self.style.WARNING(
                        f"  rewrote   {outcome.path} (it differed from what extract writes; "
                        "keep changes in an overlay or in the generator)"
                    )
                )
        for stray in base_strays(root, spec, tree):
            self.stdout.write(
                self.style.WARNING(
                    f"  left      {stray}: not generated and not in kustomization.yaml "
                    "(put additions in an overlay)"
                )
            )
        written = sum(outcome.state != "unchanged" for outcome in outcomes)
        where = project_relative(root / spec.directory)
        if written:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Extracted {spec.label} into {where}: {written} of {len(outcomes)} "
                    "files written, the others unchanged."
                )
            )
        else:
            self.stdout.write(f"{where} is up to date ({len(outcomes)} files unchanged).")

    def extract_check(self, spec: ServiceSpec, root: Path) -> None:
        tree = service_tree(spec)
        stale = [
            f"{outcome.path} ({'missing' if outcome.state == 'created' else 'differs'})"
            for outcome in tree_compare(root, tree)
            if outcome.state != "unchanged"
        ]
        stale += [f"{stray} (not generated)" for stray in base_strays(root, spec, tree)]
        if stale:
            raise CommandError(
                f"{project_relative(root / spec.directory)} is stale: {', '.join(stale)}; "
                f"run python manage.py strangler extract {spec.label}"
            )
        self.stdout.write(f"{project_relative(root / spec.directory)} is up to date.")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def _service(label: str) -> ServiceSpec:
    """The service for ``label``, if it is a fleet module."""
    try:
        return service_spec(label)
    except LookupError:
        known = ", ".join(config.label for config in fleet_modules())
        raise CommandError(f"unknown module {label!r}: choose one of {known}") from None


def _extractable(label: str) -> ServiceSpec:
    """The service for ``label``, if it is a fleet module that keeps its boundaries."""
    spec = _service(label)
    violation = _first_violation(spec)
    if violation is not None:
        raise CommandError(
            f"{label} cannot be extracted while it breaks a module boundary: {violation}; "
            "see python manage.py modules check"
        )
    return spec


def _first_violation(spec: ServiceSpec) -> Violation | None:
    """The first boundary violation in the module's own files, baselined or not.

    The baseline lets the monolith live with known debt; a service cannot: a private import
    or a foreign table is exactly what stops working once the module runs on its own.
    """
    folder = project_relative(fleet_module(spec.label).path) + "/"
    try:
        violations = boundary_violations()
    except ImportGraphError as error:
        raise CommandError(str(error)) from error
    return next((v for v in violations if v.file.startswith(folder)), None)
