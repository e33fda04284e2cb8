"""JSON for what crosses the process boundary: api arguments, api results, domain errors.

Values go out as JSON (UUID, Decimal and datetime as strings, dataclasses as objects of their
fields) and come back by the type hints of the api function: the caller rebuilds the same
frozen dataclasses, the callee the same argument types, so a module's code cannot tell a
remote call from an in-process one. Only what api.py functions use is supported (dataclasses,
lists, optionals, UUID, Decimal, datetime, date, str, int, bool); anything else is a
``CodecError`` naming where it was found.
"""

import dataclasses
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeAlias
from uuid import UUID

from monolith.platform import errors

Json: TypeAlias = bool | int | str | list["Json"] | dict[str, "Json"] | None


class CodecError(ValueError):
    """A value that does not fit its declared type; ``where`` names it (``amount``, ``[2].id``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


def encode(value: Any, where: str = "") -> Json:
    """``value`` as JSON."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: encode(getattr(value, field.name), f"{where}.{field.name}".lstrip("."))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, list | tuple):
        return [encode(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise CodecError(where, f"{type(value).__name__} cannot cross a process boundary")


def _scalar(value: Json, hint: type, where: str) -> Any:
    if hint is bool or hint is str:
        if isinstance(value, hint):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is Decimal:
        if isinstance(value, str | int) and not isinstance(value, bool):
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise CodecError(where, f"{value!r} is not a decimal number") from None
            if number.is_finite():
                return number
    elif hint is UUID:
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                raise CodecError(where, f"{value!r} is not a UUID") from None
    elif hint is datetime or hint is date:
        if isinstance(value, str):
            parse = datetime.fromisoformat if hint is datetime else date.fromisoformat
            try:
                return parse(value)
            except ValueError:
                raise CodecError(where, f"{value!r} is not an ISO 8601 {hint.__name__}") from None
    else:
        raise CodecError(where, f"the type {hint!r} is not supported")
    raise CodecError(where, f"expected {hint.__name__}, got {value!r}")


def decode(value: Json, hint: Any, where: str = "") -> Any:
    """``value`` rebuilt as ``hint`` says (a type hint as ``typing.get_type_hints`` gives)."""
    if hint is Any:
        return value
    if hint is None or hint is type(None):
        if value is None:
            return None
        raise CodecError(where, f"expected nothing, got {value!r}")
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (option, *others) = [o for o in options if o is not type(None)]
        if others:
            raise CodecError(where, f"the union {hint!r} is ambiguous")
        return decode(value, option, where)
    if origin is list or origin is tuple:
        if not isinstance(value, list):
            raise CodecError(where, f"expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        items = [decode(v, item, f"{where}[{index}]") for index, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise CodecError(where, f"expected an object for {hint.__name__}, got {value!r}")
        fields = _field_hints(hint)
        unknown = set(value) - set(fields)
        missing = set(fields) - set(value)
        if unknown or missing:
            raise CodecError(
                where,
                f"{hint.__name__} does not match: unknown {sorted(unknown)}, missing "
                f"{sorted(missing)}",
            )
        return hint(
            **{
                name: decode(value[name], field_hint, f"{where}.{name}".lstrip("."))
                for name, field_hint in fields.items()
            }
        )
    if isinstance(hint, type):
        return _scalar(value, hint, where)
    raise CodecError(where, f"the type {hint!r} is not supported")


@cache
def _field_hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls) if field.init}


@dataclasses.dataclass(frozen=True)
class ApiSignature:
    """What the codec needs of an api function: its parameters' hints and its result's."""

    signature: inspect.Signature
    parameters: dict[str, Any]
    returns: Any


@cache
def api_signature(function: Callable[..., Any]) -> ApiSignature:
    hints = typing.get_type_hints(inspect.unwrap(function))
    signature = inspect.signature(inspect.unwrap(function))
    return ApiSignature(
        signature=signature,
        parameters={name: hints.get(name, Any) for name in signature.parameters},
        returns=hints.get("return", Any),
    )


def arguments_encode(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Json]:
    """The call's arguments by name, as JSON; a wrong call raises ``TypeError`` as in-process."""
    bound = api_signature(function).signature.bind(*args, **kwargs)
    return {name: encode(value, name) for name, value in bound.arguments.items()}


def arguments_decode(function: Callable[..., Any], payload: Json) -> inspect.BoundArguments:
    """The arguments a caller sent, typed; ``CodecError`` names the first bad one."""
    if not isinstance(payload, dict):
        raise CodecError("", "the arguments must be a JSON object")
    known = api_signature(function)
    for name in payload:
        if name not in known.parameters:
            raise CodecError(name, "no such argument")
    decoded = {name: decode(value, known.parameters[name], name) for name, value in payload.items()}
    try:
        return known.signature.bind(**decoded)
    except TypeError as exc:
        raise CodecError("", str(exc)) from None


# --- domain errors --------------------------------------------------------------------------

_PLATFORM_ERRORS: dict[str, type[errors.FleetError]] = {
    cls.__name__: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.FleetError)
}
_BY_STATUS: dict[int, type[errors.FleetError]] = {
    400: errors.InvalidRequest,
    404: errors.NotFound,
    409: errors.Conflict,
    503: errors.ServiceUnavailable,
}


def error_encode(error: errors.FleetError) -> dict[str, Json]:
    return {
        "name": type(error).__name__,
        "code": error.code,
        "message": error.message,
        "field": error.field,
        "status": error.status,
        "retry_after": error.retry_after,
    }


def error_class(module: str, name: str, status: int) -> type[errors.FleetError]:
    """The class a callee raised: exported by the module's api.py, or the platform's."""
    api = importlib.import_module(f"modules.{module}.api")
    if name in getattr(api, "__all__", ()):
        found = getattr(api, name)
        if isinstance(found, type) and issubclass(found, errors.FleetError):
            return found
    if name in _PLATFORM_ERRORS:
        return _PLATFORM_ERRORS[name]
    return _BY_STATUS.get(status, errors.FleetError)


def error_decode(module: str, payload: dict[str, Json]) -> errors.FleetError:
    """The callee's error, rebuilt as the same class (its own ``__init__`` is not called)."""
    status = payload.get("status")
    status = status if isinstance(status, int) else 500
    cls = error_class(module, str(payload.get("name")), status)
    error = cls.__new__(cls)
    message = str(payload.get("message") or "")
    field = payload.get("field")
    errors.FleetError.__init__(error, message, field=field if isinstance(field, str) else None)
    if payload.get("code") != cls.code:
        error.code = str(payload.get("code"))
    if status != cls.status:
        error.status = status
    retry_after = payload.get("retry_after")
    if retry_after != cls.retry_after and (retry_after is None or isinstance(retry_after, int)):
        error.retry_after = retry_after
    return error
