"""Run the monolith on this machine as its deployables run: gunicorn and a Celery worker.

``python -m monolith.local_stack --bind 127.0.0.1:8000`` (what ``make run`` does, inside the
embedded servers) starts a worker that also runs the beat schedule (the outbox sweep), waits
until it consumes, then serves HTTP with gunicorn in the foreground. Stopping gunicorn (Ctrl-C)
stops the worker too.

``--split trips`` (what ``make run-split`` does) runs the module's extracted service beside
it, as its Kubernetes manifests say (``manage.py strangler extract``): the init container's
migrations on a database of its own (a second database on the monolith's server), then the
container's gunicorn command with the container's environment, and a worker of its own on
the service's queue. Where the manifests name cluster addresses, this machine's are used, as
an overlay would: the bind address, the port, the other modules' base URLs (the monolith
here) and the host names. The module's rows are backfilled from the monolith's database, the
monolith forwards the module's REST requests of the users routed to the service (cohort
routing: nobody until ``manage.py cohort route`` says so), and both sides sign their calls with
one generated secret kept in ``.data/``. Ctrl-C stops every process.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import psycopg

from monolith.platform.deployable_process import (
    ROOT,
    container_command,
    container_environment,
    database_ensure,
    database_named,
    foreground,
    gunicorn_command,
    gunicorn_start,
    production_environment,
    wait_healthy,
)
from monolith.platform.worker_process import WorkerHandle, celery_worker, start_worker

SECRETS_FILE = "split-secrets.json"


def _say(message: str) -> None:
    print(f"[local] {message}", file=sys.stderr, flush=True)  # noqa: T201


def _data_dir(env: dict[str, str]) -> Path:
    data = Path(env.get("FLEET_DATA_DIR", ROOT / ".data"))
    data.mkdir(parents=True, exist_ok=True)
    return data


def _beat(data: Path, name: str) -> list[str]:
    return ["--beat", f"--schedule={data / name}"]


def monolith_alone(bind: str, env: dict[str, str]) -> int:
    data = _data_dir(env)
    worker = celery_worker(
        env, extra_args=_beat(data, "celerybeat-schedule"), echo=True, hostname="fleet-local@%h"
    )
    with worker:
        return foreground(gunicorn_start(gunicorn_command(bind=bind), env=env))


def split_secrets(data: Path) -> dict[str, str]:
    """The secrets the split stack's deployables share, generated once and kept in ``data``
    (git-ignored), readable by this user only."""
    path = data / SECRETS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    values = {
        "FLEET_INTERNAL_TOKEN_SECRET": secrets.token_urlsafe(48),
        "SERVICE_SECRET_KEY": secrets.token_urlsafe(64),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(values, indent=2) + "\n")
    return values


def _host_port(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host or "127.0.0.1", int(port)


def _manage(env: dict[str, str], *args: str) -> int:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env).returncode


def _workers(stack: ExitStack, *workers: tuple[dict[str, str], str, str], data: Path) -> None:
    """Start a Celery worker with beat for each (environment, beat schedule file, hostname),
    side by side; when ``stack`` closes they are stopped side by side too (warm shutdowns)."""
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        starting = [
            pool.submit(
                start_worker, env, extra_args=_beat(data, schedule), echo=True, hostname=hostname
            )
            for env, schedule, hostname in workers
        ]
    handles = [future.result() for future in starting if future.exception() is None]
    stack.callback(_workers_stop, handles)
    for future in starting:
        if future.exception() is not None:
            raise SystemExit(str(future.exception()))


def _workers_stop(handles: list[WorkerHandle]) -> None:
    with ThreadPoolExecutor(max_workers=max(len(handles), 1)) as pool:
        list(pool.map(lambda handle: handle.stop(), handles))


def _stop(process: subprocess.Popen[Any]) -> None:
    # Out of the terminal's process group (gunicorn_start): nothing else stops it.
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=60)


def _prefixed(stream: IO[bytes], prefix: str) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{prefix} {line.decode(errors='replace')}")
        sys.stdout.flush()


class SplitStack:
    """The monolith and one extracted module's service, each with its worker."""

    def __init__(self, label: str, *, bind: str, service_bind: str, env: dict[str, str]) -> None:
        from monolith.platform.extraction import manifests
        from monolith.platform.extraction.spec import module_url_variable, service_spec

        self.spec = service_spec(label)
        self.data = _data_dir(env)
        shared = split_secrets(self.data)
        token_secret = (
            env.get("FLEET_INTERNAL_TOKEN_SECRET") or shared["FLEET_INTERNAL_TOKEN_SECRET"]
        )
        self.monolith_host, self.monolith_port = _host_port(bind)
        self.service_host, self.service_port = _host_port(service_bind)
        self.monolith_url = f"http://{self.monolith_host}:{self.monolith_port}"
        self.service_url = f"http://{self.service_host}:{self.service_port}"
        self.database_url = database_named(
            env["DATABASE_URL"], f"{urlsplit(env['DATABASE_URL']).path.lstrip('/')}_{label}_service"
        )
        self.monolith_env = {
            **env,
            "FLEET_INTERNAL_TOKEN_SECRET": token_secret,
            "COHORT_ROUTED_MODULES": label,
            f"FLEET_SERVICE_URL_{label.upper()}": self.service_url,
        }

        pod = manifests.deployment(self.spec)["spec"]["template"]["spec"]
        (self.container,) = pod["containers"]
        (self.init_container,) = pod["initContainers"]
        (self.worker_container,) = manifests.worker_deployment(self.spec)["spec"]["template"][
            "spec"
        ]["containers"]
        (self.beat_container,) = manifests.beat_deployment(self.spec)["spec"]["template"]["spec"][
            "containers"
        ]
        # What an overlay for this machine would change in the ConfigMap: the port, this
        # machine's host names (the edge forwards the Host the client called), and the other
        # modules' base URL, the monolith here.
        config = manifests.configuration(self.spec)
        local_hosts = {self.monolith_host, self.service_host, "localhost", "127.0.0.1", "[::1]"}
        config |= {
            "PORT": str(self.service_port),
            "ALLOWED_HOSTS": ",".join([config["ALLOWED_HOSTS"], *sorted(local_hosts)]),
            **{module_url_variable(other): self.monolith_url for other in self.spec.reached},
        }
        values = {
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": shared["SERVICE_SECRET_KEY"],
            "CELERY_BROKER_URL": env["CELERY_BROKER_URL"],
            "FLEET_INTERNAL_TOKEN_SECRET": token_secret,
        }
        secret_data: dict[str, dict[str, str]] = {}
        for variable, secret, key in manifests.secret_references(self.spec):
            secret_data.setdefault(secret, {})[key] = values[variable]
        self.service_env = production_environment(
            container_environment(
                self.container, config_maps={self.spec.name: config}, secrets=secret_data
            )
        )

    def service_command(self) -> list[str]:
        command = container_command(self.container, self.service_env)
        # The pod listens on every interface of its own network; here, the address asked for.
        command[command.index("--bind") + 1] = f"{self.service_host}:{self.service_port}"
        return command

    def beat_command(self) -> list[str]:
        command = container_command(self.beat_container, self.service_env)
        # The pod keeps its schedule on its own /tmp; here, beside the monolith's.
        (at,) = [i for i, part in enumerate(command) if part.startswith("--schedule=")]
        command[at] = f"--schedule={self.data / f'{self.spec.name}-celerybeat-schedule'}"
        return command

    def _start_prefixed(
        self, stack: ExitStack, command: list[str], prefix: str
    ) -> subprocess.Popen[Any]:
        """Start one of the service's processes in a session of its own, its lines prefixed,
        stopped when ``stack`` closes."""
        process = gunicorn_start(
            command, env=self.service_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        stack.callback(_stop, process)
        assert process.stdout is not None  # noqa: S101 - PIPE was asked for
        threading.Thread(target=_prefixed, args=(process.stdout, prefix), daemon=True).start()
        return process

    def prepare(self) -> None:
        """The service's database: created, migrated by the init container's command, and the
        module's rows backfilled from the monolith's."""
        created = database_ensure(self.database_url)
        name = urlsplit(self.database_url).path.lstrip("/")
        _say(f"{self.spec.name}: database {name} {'created' if created else 'exists'}; migrating")
        init = container_command(self.init_container, self.service_env)
        if subprocess.run(init, cwd=ROOT, env=self.service_env).returncode:
            raise SystemExit(f"{self.spec.name}: its migrations failed (above)")
        _say(f"{self.spec.name}: backfilling {self.spec.label} from the monolith's database")
        backfill = ("strangler", "backfill", self.spec.label)
        if _manage(self.monolith_env, *backfill, "--target-database-url", self.database_url):
            # Rows the service wrote for a routed cohort are not in the monolith's database
            # (events do not cross deployables yet): the comparison then differs, by design.
            _say(
                f"{self.spec.name}: the backfill did not end clean (above); the service keeps "
                "what its database holds"
            )

    def serve(self) -> int:
        with ExitStack() as stack:
            _workers(
                stack, (self.monolith_env, "celerybeat-schedule", "fleet-local@%h"), data=self.data
            )
            # The service's worker and beat, as their Deployments run them.
            self._start_prefixed(
                stack,
                container_command(self.worker_container, self.service_env),
                f"[{self.spec.worker_name}]",
            )
            self._start_prefixed(stack, self.beat_command(), f"[{self.spec.beat_name}]")
            service = self._start_prefixed(stack, self.service_command(), f"[{self.spec.name}]")
            monolith = gunicorn_start(
                gunicorn_command(bind=f"{self.monolith_host}:{self.monolith_port}"),
                env=self.monolith_env,
            )
            stack.callback(_stop, monolith)
            try:
                wait_healthy(self.service_port, server=service)
                wait_healthy(self.monolith_port, server=monolith)
            except RuntimeError as error:
                raise SystemExit(str(error)) from None
            self.banner()
            return foreground(monolith, service)

    def banner(self) -> None:
        label = self.spec.label
        lines = [
            f"Running split: {label} has its own service; the monolith serves the rest.",
            f"  monolith        {self.monolith_url}/  (admin /admin/, API docs /api/docs/)",
            f"  {self.spec.name:<15} {self.service_url}/  (its own database; riders reach it "
            "through the monolith's edge)",
            f"  {label} API       {self.monolith_url}/api/v1/{label}/  (X-Served-By says "
            "which side answered)",
            "Routing: nobody goes to the service until a cohort is routed: make demo-split "
            f"(routes 20%, shows the split, rolls back), or manage.py cohort route {label} "
            "(under python -m monolith.embedded when the servers are embedded)",
            *demo_logins(),
        ]
        print("\n".join(lines), flush=True)  # noqa: T201


def demo_logins() -> Iterator[str]:
    """The demo accounts ``manage.py fleet_demo`` made, as it prints them."""
    from django.contrib.auth import get_user_model

    from monolith.platform.management.commands.fleet_demo import RIDER_PASSWORD, STAFF_ACCOUNTS

    yield "Demo logins (username / password):"
    for account in STAFF_ACCOUNTS:
        role = "superuser" if account.superuser else account.role.value if account.role else ""
        yield f"  {account.username:<16} / {account.password:<22} {role}"
    riders: Any = get_user_model().objects.filter(username__regex=r"^rider\d+$")
    names = sorted(riders.values_list("username", flat=True))
    if names:
        yield f"  {names[0]}..{names[-1]:<8} / {RIDER_PASSWORD:<22} rider"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monolith.local_stack", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port for gunicorn")
    parser.add_argument(
        "--split",
        metavar="MODULE",
        help="also run this module's extracted service (extracted/<module>/), e.g. trips",
    )
    parser.add_argument(
        "--service-bind", default="127.0.0.1:8001", help="host:port for the service's gunicorn"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if not args.split:
        return monolith_alone(args.bind, env)
    for variable in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not env.get(variable):
            parser.error(f"--split needs {variable}: run it under python -m monolith.embedded")
    env.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
    os.environ["DJANGO_SETTINGS_MODULE"] = env["DJANGO_SETTINGS_MODULE"]
    import django

    django.setup()
    try:
        stack = SplitStack(args.split, bind=args.bind, service_bind=args.service_bind, env=env)
    except LookupError as error:
        parser.error(f"--split: {error}")
    try:
        stack.prepare()
    except psycopg.Error as error:
        raise SystemExit(f"the service's database: {str(error).strip().splitlines()[0]}") from None
    return stack.serve()


if __name__ == "__main__":
    sys.exit(main())
