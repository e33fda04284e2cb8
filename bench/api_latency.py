"""Latency of one REST endpoint under gunicorn, on the database the environment names.

Run inside the embedded environment (or with DATABASE_URL/CELERY_BROKER_URL set):

    .venv/bin/python -m monolith.embedded -- .venv/bin/python -m bench.api_latency \
        --path "/api/v1/vehicles/?page_size=50" --requests 500

It migrates, loads the demo data, starts gunicorn (production settings) on a free port, signs
in as the demo staff user, warms up, then times sequential requests over one keep-alive
connection and prints p50/p90/p99 in milliseconds. Nothing here asserts on time.
"""

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time

from monolith.platform.deployable_process import ROOT, gunicorn_serving, production_environment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/api/v1/vehicles/?page_size=50")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--username", default="staff")
    parser.add_argument("--password", default="fleet-staff-demo")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args()

    env = production_environment({"WEB_CONCURRENCY": args.workers, "LOG_LEVEL": "WARNING"})
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "fleet_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    with gunicorn_serving(env=env) as url:
        port = int(url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"username": args.username, "password": args.password})
        connection.request(
            "POST", "/api/v1/auth/token/", body, {"Content-Type": "application/json"}
        )
        token = json.loads(connection.getresponse().read())["token"]
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        timings: list[float] = []
        for index in range(args.warmup + args.requests):
            started = time.perf_counter()
            connection.request("GET", args.path, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"{args.path} answered {response.status}: {payload[:200]!r}")
            if index >= args.warmup:
                timings.append(elapsed)
        quantiles = statistics.quantiles(timings, n=100)
        items = len(json.loads(payload).get("results", []))
        print(  # noqa: T201
            f"{args.path}: {len(timings)} requests, {items} items per page, "
            f"p50 {statistics.median(timings):.2f} ms, p90 {quantiles[89]:.2f} ms, "
            f"p99 {quantiles[98]:.2f} ms, {len(payload)} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
