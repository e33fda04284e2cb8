"""Run the monolith on this machine as its deployables run: gunicorn and a Celery worker.

``python -m monolith.local_stack --bind 127.0.0.1:8000`` (what ``make run`` does, inside the
embedded servers) starts a worker that also runs the beat schedule (the outbox sweep), waits
until it consumes, then serves HTTP with gunicorn in the foreground. Stopping gunicorn (Ctrl-C)
stops the worker too.
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from monolith.platform.worker_process import celery_worker

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monolith.local_stack", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port for gunicorn")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    data = Path(env.get("FLEET_DATA_DIR", ROOT / ".data"))
    data.mkdir(parents=True, exist_ok=True)
    beat = ["--beat", f"--schedule={data / 'celerybeat-schedule'}"]
    with celery_worker(env, extra_args=beat, echo=True, hostname="fleet-local@%h"):
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "monolith.wsgi",
                "--config",
                "monolith/gunicorn.conf.py",
                "--bind",
                args.bind,
            ],
            cwd=ROOT,
            env=env,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda received, _frame: server.send_signal(received))
        return server.wait()


if __name__ == "__main__":
    sys.exit(main())
