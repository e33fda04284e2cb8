"""Everything the four modules' api.py exchange crosses a process boundary and comes back equal.

The modules' ``__all__`` are enumerated: each dataclass, each function's arguments and result,
each domain error. A new api function or field with a type the codec cannot carry fails here.
"""

import dataclasses
import importlib
import inspect
import json
import types
import typing
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from monolith.platform import errors
from monolith.platform.interservice.codec import (
    CodecError,
    api_signature,
    arguments_decode,
    arguments_encode,
    decode,
    encode,
    error_decode,
    error_encode,
)

MODULES = ("vehicles", "users", "trips", "billing")


KINDS: dict[str, Any] = {
    "dataclass": dataclasses.is_dataclass,
    "function": inspect.isfunction,
    "error": lambda value: isinstance(value, type) and issubclass(value, errors.FleetError),
}


def _public(kind: str) -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    for module in MODULES:
        api = importlib.import_module(f"modules.{module}.api")
        found.extend(
            (module, name, getattr(api, name))
            for name in api.__all__
            if KINDS[kind](getattr(api, name))
        )
    return found


def sample(hint: Any, name: str = "") -> Any:
    """A value of ``hint``, never None where something else is allowed."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return sample(next(a for a in typing.get_args(hint) if a is not type(None)), name)
    if origin is list:
        return [sample(typing.get_args(hint)[0], name) for _ in range(2)]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: sample(hints[f.name], f.name) for f in dataclasses.fields(hint)})
    if hint is type(None):
        return None
    return {
        uuid.UUID: uuid.uuid4(),
        Decimal: Decimal("52.521918"),
        datetime: datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        str: "EUR" if name == "currency" else f"{name}-text ü",
        int: 42,
        bool: True,
    }[hint]


def through_the_wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(("module", "name", "cls"), _public("dataclass"))
def test_every_api_dataclass_comes_back_equal(module: str, name: str, cls: type) -> None:
    value = sample(cls)

    assert decode(through_the_wire(encode(value)), cls) == value


@pytest.mark.parametrize(("module", "name", "function"), _public("function"))
def test_every_api_function_s_arguments_and_result_cross(
    module: str, name: str, function: Any
) -> None:
    known = api_signature(function)
    arguments = {param: sample(hint, param) for param, hint in known.parameters.items()}

    sent = through_the_wire(arguments_encode(function, (), arguments))
    assert arguments_decode(function, sent).arguments == arguments
    result = sample(known.returns)
    assert decode(through_the_wire(encode(result)), known.returns) == result


@pytest.mark.parametrize(("module", "name", "cls"), _public("error"))
def test_every_api_error_comes_back_as_its_own_class(
    module: str, name: str, cls: type[errors.FleetError]
) -> None:
    error = cls.__new__(cls)
    errors.FleetError.__init__(error, f"{name} happened.", field="amount")

    rebuilt = error_decode(module, through_the_wire(error_encode(error)))

    assert type(rebuilt) is cls
    assert (rebuilt.message, rebuilt.field, rebuilt.code, rebuilt.status) == (
        f"{name} happened.",
        "amount",
        error.code,
        error.status,
    )
    assert rebuilt.retry_after == error.retry_after


def test_an_error_the_caller_cannot_name_becomes_the_platform_s_error_for_its_status() -> None:
    payload = {"name": "Mystery", "code": "mystery", "message": "?", "field": None}
    illegal = error_decode("users", {**payload, "name": "IllegalTransition", "status": 409})
    assert type(illegal) is errors.IllegalTransition
    conflict = error_decode("users", {**payload, "status": 409})
    assert (type(conflict), conflict.code) == (errors.Conflict, "mystery")
    busy = error_decode("users", {**payload, "status": 503, "retry_after": 7})
    assert (type(busy), busy.retry_after) == (errors.ServiceUnavailable, 7)
    odd = error_decode("users", {**payload, "status": 418})
    assert (type(odd), odd.status) == (errors.FleetError, 418)


def test_a_card_declined_keeps_the_provider_s_code() -> None:
    from modules.billing.api import CardDeclined

    declined = CardDeclined("Insufficient funds.", code="insufficient_funds")

    rebuilt = error_decode("billing", through_the_wire(error_encode(declined)))

    assert (type(rebuilt), rebuilt.code, rebuilt.status) == (
        CardDeclined,
        "insufficient_funds",
        402,
    )


def test_arguments_that_do_not_fit_name_the_argument() -> None:
    from modules.users import api

    good = {"rider_id": str(uuid.uuid4()), "amount": "5.00", "reference": "r"}
    cases: dict[str, dict[str, Any]] = {
        "rider_id": {**good, "rider_id": "not-a-uuid"},
        "amount": {**good, "amount": 5.5},
        "reference": {**good, "reference": 7},
        "colour": {**good, "colour": "red"},
    }
    for where, arguments in cases.items():
        with pytest.raises(CodecError) as bad:
            arguments_decode(api.credit_hold, arguments)
        assert bad.value.where == where
    with pytest.raises(CodecError, match="missing a required argument"):
        arguments_decode(api.credit_hold, {"rider_id": good["rider_id"]})
    with pytest.raises(CodecError, match="not a decimal"):
        arguments_decode(api.credit_hold, {**good, "amount": "lots"})
    with pytest.raises(CodecError, match="expected bool"):
        decode(1, bool)


def test_a_value_the_codec_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(CodecError, match=r"^rows\[1\]: object cannot cross"):
        encode([1, object()], "rows")
