"""Route a cohort of riders to the trips service, show which side serves each, roll back.

Against a running ``make run-split``, from the repository root::

    make demo-split
    # or, with the DATABASE_URL and CELERY_BROKER_URL the stack runs on:
    .venv/bin/python -m docs.demo_split [--percent 20] [--add-user rider03] [--monolith URL]

1. ``manage.py cohort route trips --percent 20 --by migration --reason ...``: a sticky 20% of
   the accounts (plus any ``--add-user``) go to the service.
2. Every demo rider lists their trips, ``GET /api/v1/trips/`` on the monolith with their API
   token; ``X-Served-By`` says which side answered. A routing change reaches every process
   within a bound (docs/cohort-routing.md): each rider is asked again until the side is the
   one ``manage.py cohort who`` names, for at most ``--settle`` seconds. The trip counts are
   the same on both sides: ``make run-split`` backfilled the service's database.
3. Every rider once more, after the traffic counts' flush interval: the same sides (sticky,
   without cookies); then ``manage.py cohort status trips``: the stage, the cohort and the
   traffic per side.
4. ``manage.py cohort route trips --nobody ...``: the rollback; every rider is served by the
   monolith again.

Exit code 1 when a rider ended on a side routing did not name.
"""

import argparse
import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MODULE = "trips"
PATH = f"/api/v1/{MODULE}/"


@dataclass
class Rider:
    username: str
    token: str
    expected: str = ""
    why: str = ""
    served_by: str = ""
    trips: int | None = None


def _manage(*args: str) -> str:
    """Run a management command in this process, printed as the command line it is."""
    from django.core.management import call_command

    print(f"\n$ python manage.py {' '.join(_quoted(args))}")  # noqa: T201
    out = io.StringIO()
    call_command(*args, stdout=out)
    print(out.getvalue().rstrip())  # noqa: T201
    return out.getvalue()


def _quoted(args: Iterable[str]) -> list[str]:
    return [f'"{arg}"' if " " in arg else arg for arg in args]


def _riders() -> list[Rider]:
    """The demo riders (``rider01``...) and their API tokens, the ones the token endpoint
    hands out (fetched here: that endpoint is throttled per address)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    accounts: Any = get_user_model().objects.filter(username__regex=r"^rider\d+$")
    return [
        Rider(user.username, Token.objects.get_or_create(user=user)[0].key)
        for user in accounts.order_by("username")
    ]


def _expect(riders: list[Rider]) -> None:
    from django.core.management import call_command

    for rider in riders:
        out = io.StringIO()
        call_command("cohort", "who", MODULE, rider.username, stdout=out)
        # "rider01 → service for trips: <why>"
        head, _, why = out.getvalue().splitlines()[0].partition(": ")
        rider.expected = head.split(" → ", 1)[1].split(" ", 1)[0]
        rider.why = why


def _ask(monolith: str, rider: Rider) -> None:
    request = urllib.request.Request(  # noqa: S310 - the URL given on the command line
        monolith + PATH, headers={"Authorization": f"Token {rider.token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        rider.served_by = response.headers.get("X-Served-By", "")
        body = json.loads(response.read())
    rider.trips = body.get("count", len(body.get("results", [])))


def _serve(monolith: str, riders: list[Rider], settle: float) -> list[Rider]:
    """Ask every rider's trips until each is answered by its expected side or ``settle``
    seconds have passed; the riders that were not."""
    pending = list(riders)
    deadline = time.monotonic() + settle
    while True:
        for rider in pending:
            _ask(monolith, rider)
        pending = [rider for rider in pending if rider.served_by != rider.expected]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.1)


def _table(riders: list[Rider]) -> None:
    print(f"  {'rider':<9} {'served by':<10} {'trips':>5}  why")  # noqa: T201
    for rider in riders:
        print(f"  {rider.username:<9} {rider.served_by:<10} {rider.trips:>5}  {rider.why}")  # noqa: T201


def _split(riders: list[Rider]) -> str:
    service = sum(rider.served_by == "service" for rider in riders)
    return (
        f"Split: {service} of {len(riders)} riders served by the {MODULE} service, "
        f"{len(riders) - service} by the monolith."
    )


def _stray(riders: list[Rider], settle: float) -> int:
    for rider in riders:
        print(  # noqa: T201
            f"  {rider.username} was served by {rider.served_by or 'nobody'}, routing names "
            f"{rider.expected}, after {settle:g} s: is the monolith running with the service "
            "(make run-split)?",
            file=sys.stderr,
        )
    return len(riders)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.demo_split", description=__doc__)
    parser.add_argument("--monolith", default="http://127.0.0.1:8000", help="the monolith's URL")
    parser.add_argument("--percent", default="20", help="the share of accounts to route")
    parser.add_argument(
        "--add-user", action="append", default=[], metavar="USERNAME", help="route them too"
    )
    parser.add_argument("--by", default="migration", help="the migration team member acting")
    parser.add_argument(
        "--settle",
        type=float,
        default=10.0,
        help="seconds to wait for routing to reach the monolith",
    )
    args = parser.parse_args(argv)
    monolith = args.monolith.rstrip("/")
    try:
        urllib.request.urlopen(f"{monolith}/healthz", timeout=5).close()  # noqa: S310
    except (OSError, urllib.error.URLError) as error:
        parser.exit(1, f"nothing answers at {monolith} ({error}): start make run-split first\n")

    # The monolith routes trips to its service: `cohort who` says so only where that is set.
    os.environ.setdefault("COHORT_ROUTED_MODULES", MODULE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import CommandError

    try:
        return _demo(parser, args, monolith)
    except (ImproperlyConfigured, CommandError) as error:
        parser.exit(1, f"{parser.prog}: {error}\n")


def _demo(parser: argparse.ArgumentParser, args: argparse.Namespace, monolith: str) -> int:
    import django

    django.setup()
    from django.conf import settings

    riders = _riders()
    if not riders:
        parser.exit(1, "no demo riders: make run-split loads them (manage.py fleet_demo)\n")
    added = [option for user in args.add_user for option in ("--add-user", user)]
    reason = f"demo-split: {args.percent}% of riders to the {MODULE} service"
    _manage("cohort", "route", MODULE, "--percent", args.percent, *added, "--by", args.by,
            "--reason", reason)  # fmt: skip
    _expect(riders)
    print(f"\nGET {PATH} on {monolith} as each demo rider, with their token:")  # noqa: T201
    strays = _serve(monolith, riders, args.settle)
    _table(riders)
    print(_split(riders))  # noqa: T201
    failed = _stray(strays, args.settle)

    # Each process adds its traffic counts to the status's window with its first request after
    # the flush interval: wait it out, then ask every rider once more.
    time.sleep(settings.COHORT_TRAFFIC_FLUSH_SECONDS + 0.5)
    sides = {rider.username: rider.served_by for rider in riders}
    for rider in riders:
        _ask(monolith, rider)
    same = sum(rider.served_by == sides[rider.username] for rider in riders)
    print(f"Asked again: {same} of {len(riders)} riders answered by the same side.")  # noqa: T201
    failed += len(riders) - same

    _manage("cohort", "status", MODULE)

    _manage("cohort", "route", MODULE, "--nobody", "--by", args.by, "--reason",
            "demo-split: roll back, everyone to the monolith")  # fmt: skip
    _expect(riders)
    strays = _serve(monolith, riders, args.settle)
    print(f"\nAfter the rollback: {_split(riders)}")  # noqa: T201
    failed += _stray(strays, args.settle)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
