"""The embedded servers a fresh machine gets when no URLs are set."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import os, psycopg, redis
from urllib.parse import unquote, urlparse
db = urlparse(os.environ["DATABASE_URL"])
with psycopg.connect(host=unquote(db.hostname), dbname=db.path[1:], user=db.username) as c:
    print("postgres", c.execute("select 40 + 2").fetchone()[0])
broker = os.environ["CELERY_BROKER_URL"]
print("redis", redis.Redis(unix_socket_path=broker.removeprefix("redis+socket://")).ping())
print("settings", os.environ.get("DJANGO_SETTINGS_MODULE"))
"""


def test_embedded_postgres_and_redis_start_answer_and_stop(tmp_path: Path) -> None:
    unset = {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["FLEET_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "monolith.embedded", "--", sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "postgres 42" in result.stdout
    assert "redis True" in result.stdout
    # The launcher must not choose settings for the command it runs (pytest picks its own).
    assert "settings None" in result.stdout
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def test_embedded_without_a_command_is_one_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monolith.embedded"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "give the command to run after --" in result.stderr
    assert "Traceback" not in result.stderr
