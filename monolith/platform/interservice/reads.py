"""Which functions of a module's ``api.py`` are reads: the one declaration, ``@api_read``.

A read changes nothing the caller could observe twice (it may provision on first use, as
``users.api.rider_get`` does, which is as good as nothing), so across a process boundary it may
be retried after a timeout or a refused connection, and the edge may answer it from the
monolith while the service is down. Every other public function is a write: sent once; when
the answer is lost the caller gets ``ServiceUnavailable`` and decides (the booking saga
repeats its steps, which are idempotent by key).
"""

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

READ_MARK = "__fleet_api_read__"


def api_read(function: F) -> F:
    """Declare a public function of a module's ``api.py`` a read (safe to retry)."""
    setattr(function, READ_MARK, True)
    return function


def function_is_read(function: Callable[..., Any]) -> bool:
    # functools.wraps copies the mark onto a remote stub.
    return bool(getattr(function, READ_MARK, False))


def is_read(module: str, function: str) -> bool:
    """Whether ``modules.<module>.api.<function>`` is declared a read (for the edge proxy too)."""
    api = importlib.import_module(f"modules.{module}.api")
    if function not in getattr(api, "__all__", ()):
        raise LookupError(f"{module}.api has no public function {function!r}")
    return function_is_read(getattr(api, function))
