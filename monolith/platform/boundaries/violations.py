"""One boundary violation: where, which rule, what is wrong and what to do instead."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True, order=True)
class Violation:
    file: str  # relative to the project root, with forward slashes
    line: int
    rule: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.rule} {self.message} ({self.fix})"


def project_relative(path: str | Path) -> str:
    """``path`` relative to the project root when it lies inside it, with forward slashes."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path(settings.BASE_DIR).resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()
