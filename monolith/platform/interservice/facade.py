"""A module served elsewhere, reached through its own ``api.py``: each function a remote stub.

``remote_api_install("users")`` replaces every public function of ``modules.users.api`` with a
stub of the same name, signature and docstring that encodes the arguments, calls the
deployable serving users (``FLEET_MODULE_URLS``) and rebuilds the result as the same frozen
dataclasses. The caller's code (``users_api.credit_hold(...)``) does not change; its dataclasses
and errors stay the module's own classes. An extracted service installs it for every module it
does not serve (``RemoteModuleConfig.ready``).

A remote call made while a database transaction is open holds that transaction's locks for a
network round trip: it is logged (``fleet.interservice``) so the caller can be restructured.
"""

import functools
import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from django.db import connections

from monolith.platform.interservice.client import remote_call
from monolith.platform.interservice.codec import api_signature, arguments_encode, decode
from monolith.platform.interservice.reads import function_is_read

logger = logging.getLogger("fleet.interservice")

REMOTE_MARK = "__fleet_remote_module__"
# On a function routed per call (``routed``): the module's own function it wraps.
LOCAL_ATTRIBUTE = "__fleet_local__"


def remote_stub(
    module: str, name: str, function: Callable[..., Any], *, base_url: str | None = None
) -> Callable[..., Any]:
    """A function that calls ``<module>.api.<name>`` over HTTP as ``function`` would run here.

    At ``base_url``, else where ``FLEET_MODULE_URLS`` says the module is served.
    """
    returns = api_signature(function).returns
    read = function_is_read(function)

    @functools.wraps(function)
    def stub(*args: Any, **kwargs: Any) -> Any:
        arguments = arguments_encode(function, args, kwargs)
        if any(c.in_atomic_block for c in connections.all(initialized_only=True)):
            logger.warning(
                "%s.api.%s called over HTTP inside a database transaction",
                module,
                name,
                extra={"fleet_module": module, "function": name},
                stack_info=True,
            )
        return decode(remote_call(module, name, arguments, read=read, base_url=base_url), returns)

    setattr(stub, REMOTE_MARK, module)
    return stub


def remote_api_install(module: str) -> list[str]:
    """Make ``modules.<module>.api``'s public functions remote stubs; the names replaced."""
    api = importlib.import_module(f"modules.{module}.api")
    replaced = []
    for name in api.__all__:
        target = getattr(api, name)
        if inspect.isfunction(target) and not hasattr(target, REMOTE_MARK):
            setattr(api, name, remote_stub(module, name, target))
            replaced.append(name)
    return replaced


def is_remote(function: Callable[..., Any]) -> bool:
    return hasattr(function, REMOTE_MARK)


def api_local(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function that runs here: ``function`` itself, or the one a routed function wraps."""
    return getattr(function, LOCAL_ATTRIBUTE, function)
