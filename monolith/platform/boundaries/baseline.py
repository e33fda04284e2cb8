"""The baseline (todo) file: known violations, counted per file and rule, burnt down over time.

A legacy project records what it has today and starts green. From then on the comparison is a
ratchet: a violation beyond what the file allows fails, and so does an entry that allows more
than is left (it must be lowered or removed, so fixed code cannot quietly regress).
"""

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from monolith.platform.boundaries.violations import Violation, project_relative

BASELINE_VERSION = 1
# Lines git writes into a file when a merge leaves it in conflict.
CONFLICT_MARKERS = ("<<<<<<< ", "=======", ">>>>>>> ", "||||||| ")


def baseline_path() -> Path:
    configured = getattr(settings, "BOUNDARIES_BASELINE", None)
    return Path(configured) if configured else Path(settings.BASE_DIR) / "boundaries-todo.json"


@dataclass
class BaselineVerdict:
    """What the baseline makes of a set of violations."""

    new: list[Violation] = field(default_factory=list)  # beyond what the baseline allows
    stale: list[tuple[str, str, int, int]] = field(
        default_factory=list
    )  # file, rule, allowed, found

    @property
    def ok(self) -> bool:
        return not self.new and not self.stale

    def lines(self) -> list[str]:
        out = [str(violation) for violation in sorted(self.new)]
        for file, rule, allowed, found in sorted(self.stale):
            out.append(
                f"{file}:0 baseline-stale the baseline allows {allowed} {rule} here but "
                f"{found} remain (lower the count or remove the entry: "
                "python manage.py modules baseline)"
            )
        return out


class BaselineUnreadable(ValueError):
    """The baseline file exists but is not a baseline: bad JSON, conflict markers, wrong shape.

    The message is one line naming the file and what is wrong, so a command or system check
    can print it as it is, without a traceback.
    """


def baseline_load(path: Path | None = None) -> Counter[tuple[str, str]]:
    """The counts the baseline allows per (file, rule); empty when there is no file.

    Raises ``BaselineUnreadable`` for a file that is there but cannot be read as a baseline.
    """
    path = path or baseline_path()
    if not path.exists():
        return Counter()
    where = project_relative(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineUnreadable(f"{where} cannot be read: {error}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(CONFLICT_MARKERS):
            raise BaselineUnreadable(
                f"{where}:{number} has merge-conflict markers: resolve the conflict or "
                "regenerate it with python manage.py modules baseline"
            )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineUnreadable(
            f"{where}:{error.lineno} is not valid JSON: {error.msg} (column {error.colno})"
        ) from error
    if not isinstance(data, dict):
        raise BaselineUnreadable(
            f"{where} is not a baseline: expected an object with version and todo, "
            f"found {type(data).__name__}"
        )
    if data.get("version") != BASELINE_VERSION:
        raise BaselineUnreadable(
            f"{where} has unknown baseline version {data.get('version')!r} "
            f"(expected {BASELINE_VERSION})"
        )
    todo = data.get("todo")
    if not isinstance(todo, list):
        raise BaselineUnreadable(f"{where} is not a baseline: todo must be a list of entries")
    counts: Counter[tuple[str, str]] = Counter()
    for index, entry in enumerate(todo):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("file"), str)
            and isinstance(entry.get("rule"), str)
            and isinstance(entry.get("count"), int)
            and not isinstance(entry.get("count"), bool)
            and entry["count"] > 0
        ):
            raise BaselineUnreadable(
                f"{where} is not a baseline: todo entry {index} must be "
                f'{{"file": str, "rule": str, "count": positive int}}, found {entry!r}'
            )
        counts[(entry["file"], entry["rule"])] += entry["count"]
    return counts


def baseline_write(violations: Iterable[Violation], path: Path | None = None) -> Path:
    """Record ``violations`` as the new baseline (sorted, so diffs stay small)."""
    path = path or baseline_path()
    counts = Counter((violation.file, violation.rule) for violation in violations)
    todo = [
        {"file": file, "rule": rule, "count": count}
        for (file, rule), count in sorted(counts.items())
    ]
    path.write_text(json.dumps({"version": BASELINE_VERSION, "todo": todo}, indent=2) + "\n")
    return path


def baseline_compare(
    violations: Iterable[Violation], allowed: Counter[tuple[str, str]] | None = None
) -> BaselineVerdict:
    """Split ``violations`` into those the baseline allows and those it does not (the ratchet)."""
    allowed = baseline_load() if allowed is None else allowed
    grouped: dict[tuple[str, str], list[Violation]] = {}
    for violation in sorted(violations):
        grouped.setdefault((violation.file, violation.rule), []).append(violation)
    verdict = BaselineVerdict()
    for key, found in grouped.items():
        budget = allowed.get(key, 0)
        if len(found) > budget:
            verdict.new.extend(found[budget:] if budget else found)
    for (file, rule), budget in allowed.items():
        found_count = len(grouped.get((file, rule), []))
        if found_count < budget:
            verdict.stale.append((file, rule, budget, found_count))
    return verdict
