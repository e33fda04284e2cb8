"""Logging: JSON lines on stdout, each carrying the request id of the request that wrote it."""

from typing import Any


def build_logging(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "monolith.platform.observability.RequestIdLogFilter"}},
        "formatters": {"json": {"()": "monolith.platform.observability.JsonLineFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
        },
    }
