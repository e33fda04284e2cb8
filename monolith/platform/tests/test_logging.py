import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from monolith.platform.observability import JsonLineFormatter, RequestIdLogFilter


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the configured stdout handler would print, for the loggers a request writes to."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(RequestIdLogFilter())
    loggers = [logging.getLogger(name) for name in ("fleet.access", "django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream
    for logger in loggers:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_access_log_is_one_json_line_carrying_the_request_id(json_lines: io.StringIO) -> None:
    Client().get("/healthz", HTTP_X_REQUEST_ID="trace-7")
    (line,) = [entry for entry in _lines(json_lines) if entry["logger"] == "fleet.access"]
    assert line["request_id"] == "trace-7"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["level"] == "INFO"
    assert line["fleet_module"] == "healthz"


def test_djangos_own_error_lines_carry_the_request_id_too(json_lines: io.StringIO) -> None:
    Client().get("/no-such-page", HTTP_X_REQUEST_ID="trace-404")
    warning = next(entry for entry in _lines(json_lines) if entry["logger"] == "django.request")
    assert warning["level"] == "WARNING"
    assert warning["request_id"] == "trace-404"


def test_no_request_id_lingers_after_the_request() -> None:
    Client().get("/healthz", HTTP_X_REQUEST_ID="trace-9")
    record = logging.LogRecord("fleet", logging.INFO, __file__, 1, "outside", None, None)
    RequestIdLogFilter().filter(record)
    assert record.request_id is None  # type: ignore[attr-defined]
