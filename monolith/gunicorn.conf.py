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
# The sync worker closes the connection after every answer, so whoever pools connections to a
# deployable (the edge forwarding to a service, the calls between deployables, a load
# balancer) would open a new one per request. gthread keeps them: an idle kept-alive
# connection waits in the worker's poller, not in a thread. Threads also let the monolith
# answer the calls a service makes back into it while a forwarded request waits.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# With gthread the heartbeat comes from the worker's main loop, not from the request: this
# finds a hung worker process, and a slow request is not killed after it (the HTTP clients'
# timeouts bound the calls a request makes).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Seconds an idle connection is kept. Short for clients met directly; a deployable reached only
# by other deployables (an extracted service) sets it longer than their gaps between calls, so
# their pools rarely send on a connection the server is closing.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
accesslog = None  # the request middleware writes one JSON line per request instead
# Deployables are stopped and scaled by signals and Kubernetes, not gunicornc; the socket's
# one default path per user would be taken over by each deployable started on the same machine.
control_socket_disable = True
errorlog = "-"


def child_exit(server: object, worker: object) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
