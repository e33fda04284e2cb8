"""gunicorn settings for every deployable; the environment can override the numbers."""

import os
import tempfile
from pathlib import Path

# Metrics from every worker are summed at /metrics through a shared folder. prometheus_client
# picks its storage when first imported, and the workers inherit this process's modules, so the
# folder must be named before that import.
_metrics_dir = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="fleet-metrics-"))
)
_metrics_dir.mkdir(parents=True, exist_ok=True)

from prometheus_client import multiprocess  # noqa: E402

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = None  # the request middleware writes one JSON line per request instead
errorlog = "-"


def child_exit(server: object, worker: object) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
