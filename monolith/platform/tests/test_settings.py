"""Production settings refuse unsafe configuration; check --deploy is clean when it is safe."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    environment.update(DJANGO_SETTINGS_MODULE="monolith.settings.production", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_the_development_secret_key() -> None:
    result = _manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or insecure" in result.stderr


def test_production_refuses_a_short_secret_key() -> None:
    result = _manage("check", SECRET_KEY="short")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or insecure" in result.stderr


def test_production_refuses_debug() -> None:
    result = _manage("check", SECRET_KEY=secrets.token_urlsafe(64), DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG must be off in production" in result.stderr


def test_production_refuses_a_missing_or_short_internal_token_secret() -> None:
    for value in ("", "too-short"):
        result = _manage(
            "check", SECRET_KEY=secrets.token_urlsafe(64), FLEET_INTERNAL_TOKEN_SECRET=value
        )
        assert result.returncode != 0
        assert "Set FLEET_INTERNAL_TOKEN_SECRET to the secret the deployables share" in (
            result.stderr
        )


def test_production_passes_check_deploy_with_a_real_secret() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(64),
        FLEET_INTERNAL_TOKEN_SECRET=secrets.token_urlsafe(48),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_malformed_boolean_is_one_clear_error(value: str) -> None:
    result = _manage("check", DEBUG=value)
    assert result.returncode != 0
    assert f"DEBUG='{value}' is not a boolean" in result.stderr


def test_a_missing_database_url_is_one_clear_line() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "manage.py", "modules"],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "monolith.settings.local"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error: DATABASE_URL is not set.")
    assert "Traceback" not in result.stderr


def test_beat_reads_feeds_only_where_there_are_feeds_to_read() -> None:
    script = (
        "from django.conf import settings; "
        "print('platform.events_pull' in settings.CELERY_BEAT_SCHEDULE)"
    )
    alone = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_SERVICE_")}

    def scheduled(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env={**alone, "DJANGO_SETTINGS_MODULE": "monolith.settings.local", **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert scheduled() == "False"  # the monolith alone: nothing to read
    assert scheduled(FLEET_SERVICE_URL_TRIPS="http://127.0.0.1:9") == "True"
