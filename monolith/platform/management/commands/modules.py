"""The fleet modules: what they declare, whether they keep their boundaries, and their map.

    python manage.py modules             each module: dependencies, tables, api, events
    python manage.py modules check       the boundary check against the baseline; exits 1 on failure
    python manage.py modules baseline    rewrite boundaries-todo.json from today's violations
    python manage.py modules graph       write docs/module-map.md (Mermaid) and docs/module-map.svg

``check`` runs the import check and Django's system checks tagged ``boundaries`` (the ORM
rules), then applies the baseline: every violation the baseline does not allow, and every
baseline entry that allows more than is left, prints one line ``file:line rule message (fix)``.
"""

import importlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management.base import CommandError, CommandParser

from monolith.platform.boundaries import module_map
from monolith.platform.boundaries.baseline import (
    BaselineUnreadable,
    baseline_compare,
    baseline_load,
    baseline_path,
    baseline_write,
)
from monolith.platform.boundaries.imports import (
    ImportGraphError,
    import_violations,
)
from monolith.platform.boundaries.violations import Violation, project_relative
from monolith.platform.management.one_line_errors import OneLineErrorsCommand
from monolith.platform.registry import fleet_modules

ACTIONS = ("list", "check", "baseline", "graph")
BOUNDARIES_TAG = "boundaries"


class Command(OneLineErrorsCommand):
    help = "List the fleet modules, check their boundaries, record the baseline, draw the map."
    # The boundary checks are what this command runs; Django's own checks must not stop it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            nargs="?",
            default="list",
            help=f"one of {', '.join(ACTIONS)} (default: list)",
        )
        parser.add_argument(
            "--baseline",
            metavar="PATH",
            help="the baseline file for check and baseline (default: settings.BOUNDARIES_BASELINE "
            "or boundaries-todo.json at the project root)",
        )
        parser.add_argument(
            "--docs",
            metavar="DIR",
            help="where graph writes module-map.md and module-map.svg (default: docs/)",
        )

    def argument_error_lines(self, message: str) -> list[str]:
        return _argument_error_lines(message)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action not in ACTIONS:
            raise CommandError(f"unknown action {action!r}: choose one of {', '.join(ACTIONS)}")
        if options["docs"] and action != "graph":
            raise CommandError("--docs applies to graph only")
        if options["baseline"] and action not in ("check", "baseline"):
            raise CommandError("--baseline applies to check and baseline only")
        baseline = Path(options["baseline"]) if options["baseline"] else baseline_path()
        try:
            if action == "list":
                self.modules_list()
            elif action == "check":
                self.modules_check(baseline)
            elif action == "baseline":
                self.modules_baseline(baseline)
            else:
                docs = (
                    Path(options["docs"]) if options["docs"] else Path(settings.BASE_DIR) / "docs"
                )
                self.modules_graph(docs)
        except ImportGraphError as error:
            raise CommandError(str(error)) from error

    def modules_list(self) -> None:
        cards = module_map.module_cards()
        if not cards:
            self.stdout.write("No fleet modules are installed.")
            return
        for index, card in enumerate(cards):
            if index:
                self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING(f"{card.label} ({card.name})"))
            for heading, value in module_map.card_fields(card):
                self.stdout.write(f"  {heading + ':':<15}{value}")

    def modules_check(self, baseline: Path) -> None:
        started = time.perf_counter()
        violations = boundary_violations()
        verdict = baseline_compare(violations, _baseline_load(baseline))
        elapsed = time.perf_counter() - started
        for line in verdict.lines():
            self.stdout.write(line)
        allowed = len(violations) - len(verdict.new)
        summary = (
            f"{len(fleet_modules())} modules, {len(violations)} violations "
            f"({allowed} in the baseline, {len(verdict.new)} new, "
            f"{len(verdict.stale)} stale baseline entries) in {elapsed:.2f} s"
        )
        if not verdict.ok:
            raise CommandError(
                f"module boundaries: {summary}. Fix the lines above; "
                f"`python manage.py modules baseline` records what must stay for now."
            )
        self.stdout.write(self.style.SUCCESS(f"Module boundaries kept: {summary}."))

    def modules_baseline(self, baseline: Path) -> None:
        # The escape hatch: an unreadable file (a merge conflict, a bad hand edit) is what this
        # command is run to repair, so it is read as empty and rewritten, with a warning.
        try:
            before = baseline_load(baseline)
        except BaselineUnreadable as error:
            self.stderr.write(self.style.WARNING(f"! {error}: read as empty and rewritten"))
            before = Counter()
        violations = boundary_violations()
        baseline_write(violations, baseline)
        after = baseline_load(baseline)
        changes = []
        for key in sorted(set(before) | set(after)):
            file, rule = key
            was, now = before.get(key, 0), after.get(key, 0)
            if was == now:
                continue
            if not was:
                changes.append(f"+ {file} {rule} {now} (new)")
            elif not now:
                changes.append(f"- {file} {rule} (was {was}, fixed)")
            elif now > was:
                # modules check never lets a count rise; only this command can, so it says so.
                changes.append(
                    self.style.WARNING(f"~ {file} {rule} {was} -> {now}: the baseline grows")
                )
            else:
                changes.append(f"~ {file} {rule} {was} -> {now}")
        for line in changes:
            self.stdout.write(line)
        where = project_relative(baseline)
        total = sum(after.values())
        if changes:
            self.stdout.write(
                f"Wrote {where}: {total} violations in {len(after)} entries, "
                f"{len(changes)} changed."
            )
        else:
            self.stdout.write(f"{where} unchanged: {total} violations in {len(after)} entries.")

    def modules_graph(self, docs: Path) -> None:
        cards = module_map.module_cards()
        docs.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in (
            ("module-map.md", module_map.markdown(cards)),
            ("module-map.svg", module_map.svg(cards)),
        ):
            path = docs / name
            path.write_text(text)
            written.append(project_relative(path))
        self.stdout.write(f"Wrote {' and '.join(written)} ({len(cards)} modules).")


def boundary_violations() -> list[Violation]:
    """Everything the boundary check reports, before the baseline: imports plus the ORM rules."""
    return sorted([*import_violations(), *system_check_violations()])


def system_check_violations() -> list[Violation]:
    """The ORM rules: ``orm_violations()`` when the ORM checks offer it, else the tagged checks."""
    try:
        orm = importlib.import_module("monolith.platform.boundaries.orm")
    except ModuleNotFoundError as error:
        if error.name != "monolith.platform.boundaries.orm":
            raise
        orm = None
    finder = getattr(orm, "orm_violations", None)
    if callable(finder):
        return list(finder())
    return [
        violation
        for message in checks.run_checks(tags=[BOUNDARIES_TAG])
        if (violation := _violation_from_message(message)) is not None
    ]


def _violation_from_message(message: checks.CheckMessage) -> Violation | None:
    for carrier in (message.obj, message.hint):
        if isinstance(carrier, Violation):
            return carrier
    if not message.is_serious():
        return None
    # A boundary error that carries no Violation still fails the check, on a line of its own.
    return Violation(
        file=str(message.obj) if message.obj is not None else "?",
        line=0,
        rule=message.id or BOUNDARIES_TAG,
        message=message.msg,
        fix=message.hint or "see the check's documentation",
    )


def _baseline_load(path: Path) -> Counter[tuple[str, str]]:
    try:
        return baseline_load(path)
    except BaselineUnreadable as error:
        # Its message already names the file and what is wrong, on one line.
        raise CommandError(str(error)) from error


def _argument_error_lines(message: str) -> list[str]:
    unrecognised = "unrecognized arguments: "
    if message.startswith(unrecognised):
        return [f"unknown argument {argument}" for argument in message[len(unrecognised) :].split()]
    return [message]
