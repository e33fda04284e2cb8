"""Run the monolith on this machine as its deployables run: gunicorn and a Celery worker.

``python -m monolith.local_stack --bind 127.0.0.1:8000`` (what ``make run`` does, inside the
embedded servers) starts a worker that also runs the beat schedule (the outbox sweep), waits
until it consumes, then serves HTTP with gunicorn in the foreground. Stopping gunicorn (Ctrl-C)
stops the worker too.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from monolith.platform.deployable_process import ROOT, foreground, gunicorn_command
from monolith.platform.worker_process import celery_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monolith.local_stack", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port for gunicorn")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    data = Path(env.get("FLEET_DATA_DIR", ROOT / ".data"))
    data.mkdir(parents=True, exist_ok=True)
    beat = ["--beat", f"--schedule={data / 'celerybeat-schedule'}"]
    with celery_worker(env, extra_args=beat, echo=True, hostname="fleet-local@%h"):
        return foreground(subprocess.Popen(gunicorn_command(bind=args.bind), cwd=ROOT, env=env))


if __name__ == "__main__":
    sys.exit(main())
