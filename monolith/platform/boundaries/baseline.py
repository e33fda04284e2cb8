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

from monolith.platform.boundaries.violations import Violation

BASELINE_VERSION = 1


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


def baseline_load(path: Path | None = None) -> Counter[tuple[str, str]]:
    path = path or baseline_path()
    if not path.exists():
        return Counter()
    data = json.loads(path.read_text())
    if data.get("version") != BASELINE_VERSION:
        raise ValueError(f"{path}: unknown baseline version {data.get('version')!r}")
    return Counter({(entry["file"], entry["rule"]): int(entry["count"]) for entry in data["todo"]})


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
