"""Shadow mode's comparison: the monolith's answer to a read against the service's.

Two answers match when their statuses are equal and, for a JSON answer to a ``GET``, their
bodies are equal once the module's volatile fields are taken out of both
(``COHORT_SHADOW_VOLATILE_FIELDS``; a ``HEAD`` answer has no body to compare). A field path is:

- a name without a dot (``served_at``, or a glob: ``*_at``): that key at any depth;
- a dotted path (``results.eta``): from the top of the answer, one key per segment (each may be
  a glob), list items being transparent, so ``results.eta`` is the ``eta`` of every result.

A mismatch is recorded (``ShadowMismatch``) with the fields that differ and a unified diff of
the two answers as indented JSON, keys sorted, volatile fields left out. The edge sends the
reads and calls ``answers_compare`` off the request path (``monolith.platform.edge.shadow``).
"""

import difflib
import json
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.utils import timezone

from monolith.cohorts.config import routing_config
from monolith.cohorts.models import ShadowMismatch

# Enough to see what differs; a difference longer than this is cut, saying so.
DIFF_MAX_LINES = 400
DIFFERING_MAX = 40
VALUE_MAX_CHARS = 120
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class VolatileFields:
    """A module's declared volatile fields, split by how they match."""

    anywhere: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]

    def strip(self, document: Any, trail: tuple[str, ...] = ()) -> Any:
        """``document`` without its volatile fields (a copy, unless there are none)."""
        if not (self.anywhere or self.paths):
            return document
        if isinstance(document, list):
            return [self.strip(item, trail) for item in document]
        if not isinstance(document, dict):
            return document
        kept = {}
        for key, value in document.items():
            at = (*trail, key)
            if self._volatile(key, at):
                continue
            kept[key] = self.strip(value, at)
        return kept

    def _volatile(self, key: str, at: tuple[str, ...]) -> bool:
        if any(fnmatchcase(key, name) for name in self.anywhere):
            return True
        return any(len(path) == len(at) and all(map(fnmatchcase, at, path)) for path in self.paths)


@lru_cache(maxsize=64)
def _volatile_fields_of(declared: tuple[str, ...]) -> VolatileFields:
    return VolatileFields(
        anywhere=tuple(field for field in declared if "." not in field),
        paths=tuple(tuple(field.split(".")) for field in declared if "." in field),
    )


def volatile_fields(module: str) -> VolatileFields:
    """What ``module`` declares volatile, with what every module does ("*")."""
    declared = routing_config().shadow_volatile_fields
    return _volatile_fields_of((*declared.get("*", ()), *declared.get(module, ())))


@dataclass(frozen=True)
class ShadowDifference:
    """How two answers to one read differ."""

    differing: list[str]  # the fields, as paths: results[0].status
    diff: str


def content_type_is_json(content_type: str) -> bool:
    """Whether an answer of this ``Content-Type`` is JSON (application/json, or any +json)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def answers_compare(
    module: str,
    *,
    method: str,
    monolith_status: int,
    monolith_body: bytes,
    service_status: int,
    service_content_type: str,
    service_body: bytes,
) -> ShadowDifference | None:
    """None when the service's answer matches the monolith's (a JSON answer to ``GET``;
    only the status for ``HEAD``); otherwise what differs."""
    if monolith_status == service_status and monolith_body == service_body:
        return None  # the same bytes: most matches end here, without parsing either answer
    statuses = f"status: monolith {monolith_status}, service {service_status}"
    if method == "HEAD":
        if monolith_status == service_status:
            return None
        return ShadowDifference(["(status)"], statuses)
    volatile = volatile_fields(module)
    monolith = volatile.strip(json.loads(monolith_body))
    differing = ["(status)"] if monolith_status != service_status else []
    try:
        if not content_type_is_json(service_content_type):
            raise ValueError(service_content_type)
        service = volatile.strip(json.loads(service_body))
    except ValueError:
        text = service_body.decode("utf-8", errors="replace")
        return ShadowDifference(
            [*differing, "(body)"],
            "\n".join(
                [
                    statuses,
                    f"the service's answer is not JSON ({service_content_type or 'no type'})",
                    *_unified(_pretty(monolith), text),
                ]
            ),
        )
    if not differing and monolith == service:
        return None
    _differences(monolith, service, "", differing)
    lines = [statuses]
    fields = [field for field in differing if field != "(status)"]
    if fields:
        lines.append("fields that differ:")
        lines.extend(f"  {line}" for line in _described(monolith, service, fields))
    lines.extend(_unified(_pretty(monolith), _pretty(service)))
    return ShadowDifference(differing, "\n".join(lines))


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _unified(monolith: str, service: str) -> list[str]:
    lines = list(
        difflib.unified_diff(
            monolith.splitlines(), service.splitlines(), "monolith", "service", lineterm=""
        )
    )
    if len(lines) > DIFF_MAX_LINES:
        lines = [*lines[:DIFF_MAX_LINES], f"... ({len(lines) - DIFF_MAX_LINES} more lines)"]
    return lines


def _differences(monolith: Any, service: Any, at: str, found: list[str]) -> None:
    """Append to ``found`` the path of every field where the two documents differ."""
    if len(found) >= DIFFERING_MAX or monolith == service:
        return
    if isinstance(monolith, dict) and isinstance(service, dict):
        for key in sorted(monolith.keys() | service.keys()):
            path = f"{at}.{key}" if at else key
            if key not in service or key not in monolith:
                found.append(path)
            else:
                _differences(monolith[key], service[key], path, found)
        return
    if isinstance(monolith, list) and isinstance(service, list):
        for index, (left, right) in enumerate(zip(monolith, service, strict=False)):
            _differences(left, right, f"{at}[{index}]", found)
        if len(monolith) != len(service):
            found.append(f"{at}[]" if at else "[]")
        return
    found.append(at or "(the whole answer)")


def _value_at(document: Any, path: str) -> tuple[bool, Any]:
    """The value at ``path`` (as ``_differences`` writes it), and whether there is one."""
    if path == "(the whole answer)":
        return True, document
    value = document
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part == "[]":
            return True, len(value) if isinstance(value, list) else value
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(value, list) or index >= len(value):
                return False, None
            value = value[index]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return False, None
    return True, value


def _shown(found: bool, value: Any) -> str:
    if not found:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_MAX_CHARS else text[: VALUE_MAX_CHARS - 1] + "…"


def _described(monolith: Any, service: Any, fields: list[str]) -> list[str]:
    described = []
    for field in fields:
        label = field.removesuffix("[]") + " (items)" if field.endswith("[]") else field
        described.append(
            f"{label}: monolith {_shown(*_value_at(monolith, field))}, "
            f"service {_shown(*_value_at(service, field))}"
        )
    if len(fields) >= DIFFERING_MAX:
        described.append("... (more fields may differ)")
    return described


def shadow_mismatch_record(
    *,
    module: str,
    method: str,
    path: str,
    route: str,
    account_id: UUID | None,
    monolith_status: int,
    service_status: int,
    difference: ShadowDifference,
    request_id: str | None,
) -> ShadowMismatch:
    """Keep a mismatch for the migration team (the admin's shadow mismatches)."""
    return ShadowMismatch.objects.create(
        module=module,
        method=method,
        path=path,
        route=route[:300],
        account_id=account_id,
        monolith_status=monolith_status,
        service_status=service_status,
        differing=", ".join(difference.differing),
        diff=difference.diff,
        request_id=(request_id or "")[:100],
    )


def shadow_mismatches_prune(*, older_than_days: int) -> int:
    """Delete mismatches recorded more than ``older_than_days`` days ago, oldest first, in
    batches (each its own short statement); how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted = 0
    while True:
        batch = list(
            ShadowMismatch.objects.filter(recorded_at__lt=cutoff)
            .order_by("recorded_at")
            .values_list("pk", flat=True)[:PRUNE_BATCH]
        )
        if not batch:
            return deleted
        deleted += ShadowMismatch.objects.filter(pk__in=batch).delete()[0]
