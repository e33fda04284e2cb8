"""``manage.py cohort``: status, route, shadow, who, prune; audited changes; bad input in one
line."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import ManagementUtility, call_command
from django.utils import timezone

from monolith.cohorts.models import RoutingChange, ShadowMismatch
from monolith.cohorts.routing import route_for_account
from monolith.cohorts.rules import Side, cohort_bucket
from monolith.platform.access import Role

pytestmark = pytest.mark.django_db


def cohort(*args: str) -> str:
    out = StringIO()
    call_command("cohort", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def cohort_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """Run as from a shell (``manage.py cohort ...``): the exit code, stdout and stderr."""
    # A command run from the shell closes every connection when it ends; here that would be
    # the test's own connection, in the middle of its transaction.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    return lambda *args: _cohort_cli(capsys, *args)


def _cohort_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        ManagementUtility(["manage.py", "cohort", *args]).execute()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_status_shows_every_module_in_the_monolith_at_first(make_user: Callable[..., Any]) -> None:
    make_user("ann")
    out = cohort("status")
    for module in ("vehicles", "users", "trips", "billing"):
        assert f"{module}: in monolith  (not routed by this deployable)" in out
    assert "cohort     0 of 1 active accounts" in out
    assert "shadow     off, mismatches —" in out


@pytest.mark.usefixtures("routed")
def test_route_widens_by_percent_and_users_and_records_who_and_why(
    mover: Any, make_user: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    ann = make_user("ann")
    with django_capture_on_commit_callbacks(execute=True):
        out = cohort(
            "route", "trips", "--percent", "10", "--add-user", "ann",
            "--by", mover.username, "--reason", "first cohort",
        )  # fmt: skip
    assert out.startswith("trips: in monolith → partial 10% + 1 user (change #")
    assert route_for_account("trips", ann.pk).side is Side.SERVICE

    record = RoutingChange.objects.get()
    assert (record.module, record.changed_by, record.reason) == ("trips", mover, "first cohort")
    assert record.before == {
        "everyone": None, "percent": None, "users": [], "groups": [], "shadow": False,
    }  # fmt: skip
    assert record.after == {
        "everyone": None, "percent": "10.00", "users": ["ann"], "groups": [], "shadow": False,
    }  # fmt: skip

    status = cohort("status", "trips")
    assert status.startswith("trips: partial 10% + 1 user\n")
    assert f"changed    {record.changed_at:%Y-%m-%d %H:%M:%S} by mover-mia: first cohort" in status


@pytest.mark.usefixtures("routed")
def test_nobody_rolls_back_and_everyone_extracts(
    route: Callable[..., Any], mover: Any, make_user: Callable[..., Any]
) -> None:
    ann = make_user("ann")
    route(percent=Decimal(30))
    out = cohort("route", "trips", "--nobody", "--by", mover.username, "--reason", "errors up")
    assert out.startswith("trips: partial 30% → in monolith (cohort held back: 30%)")
    out = cohort("route", "trips", "--everyone", "--by", mover.username, "--reason", "done")
    assert out.startswith("trips: in monolith (cohort held back: 30%) → extracted")
    assert cohort("status", "trips").startswith("trips: extracted\n")
    accounts = ann.__class__.objects.count()
    assert f"cohort     {accounts} of {accounts} active accounts" in cohort("status", "trips")


def test_shadow_is_switched_per_module_and_audited(mover: Any) -> None:
    out = cohort("shadow", "billing", "on", "--by", mover.username, "--reason", "compare reads")
    assert out.startswith("billing: in monolith → shadow (change #")
    assert cohort("status", "billing").startswith("billing: shadow")
    assert "shadow     on, mismatches —" in cohort("status", "billing")
    again = cohort("shadow", "billing", "on", "--by", mover.username, "--reason", "again")
    assert again == "billing: nothing to change; nothing recorded.\n"
    assert RoutingChange.objects.filter(module="billing").count() == 1


@pytest.mark.usefixtures("routed")
def test_who_says_which_side_serves_an_account_and_why(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    ann, bob = make_user("ann"), make_user("bob")
    beta = Group.objects.create(name="beta")
    bob.groups.add(beta)
    route(percent=Decimal(25), add_groups=frozenset({"beta"}))
    bucket = cohort_bucket("route.trips", ann.pk)
    side = "service" if bucket < 2500 else "monolith"
    expected = (
        f"bucket {bucket} is below the line 2500 (25%)"
        if bucket < 2500
        else f"not in trips's cohort (bucket {bucket}, line 2500)"
    )
    assert cohort("who", "trips", "ann") == f"ann → {side} for trips: {expected}\n"
    assert cohort("who", "trips", "bob") == (
        "bob → service for trips: member of a group in trips's cohort\n"
    )


def test_who_names_the_deployable_that_does_not_route(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    make_user("ann")
    route(everyone=True)
    assert cohort("who", "trips", "ann") == (
        "ann → monolith for trips: this deployable does not route trips (COHORT_ROUTED_MODULES)\n"
        "  the flag alone says: service (trips is routed to its service for everyone)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["route", "trip", "--percent", "10"],
            "unknown module 'trip' (fleet modules: vehicles, users, trips, billing)",
        ),
        (
            ["route", "trips", "--percent", "120"],
            "argument --percent: percent must be between 0 and 100 (got 120)",
        ),
        (
            ["route", "trips", "--percent", "ten"],
            "argument --percent: percent must be a number, not 'ten'",
        ),
        (["route", "trips", "--add-user", "zed"], "no account named 'zed'"),
        (["route", "trips", "--add-group", "zeds"], "no group named 'zeds'"),
        (
            ["status", "trip"],
            "unknown module 'trip' (fleet modules: vehicles, users, trips, billing)",
        ),
        (["who", "trips", "zed"], "no account named 'zed'"),
        (["route", "trips"], "say what to change: --percent, --everyone, --nobody"),
        (["route", "trips", "--everyone", "--nobody"], "not allowed with argument"),
        (["shadow", "trips", "maybe"], "invalid choice: 'maybe'"),
        (["launch"], "invalid choice: 'launch'"),
        (["prune", "--older-than", "0"], "DAYS must be a whole number of at least 1, not '0'"),
    ],
)
def test_bad_input_gets_one_clear_line(
    cohort_cli: Callable[..., tuple[int, str, str]], mover: Any, args: list[str], message: str
) -> None:
    if args[0] in {"route", "shadow"}:
        args = [*args, "--by", mover.username, "--reason", "testing input"]
    code, out, err = cohort_cli(*args)
    assert code != 0
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in err
    assert not RoutingChange.objects.exists()


def test_only_the_migration_team_may_route(
    cohort_cli: Callable[..., tuple[int, str, str]], make_user: Callable[..., Any]
) -> None:
    make_user("staff-sam", Role.FLEET_STAFF, is_staff=True, is_superuser=True)
    code, _, err = cohort_cli(
        "route", "trips", "--everyone", "--by", "staff-sam", "--reason", "why not"
    )
    assert code == 1
    assert err == (
        "CommandError: only the migration team may change routing; 'staff-sam' is not in the "
        "migration-team group\n"
    )
    code, _, err = cohort_cli(
        "route", "trips", "--everyone", "--by", "ghost", "--reason", "why not"
    )
    assert err == "CommandError: no account named 'ghost' (--by)\n"
    code, _, err = cohort_cli("route", "trips", "--everyone", "--reason", "who?")
    assert code == 2
    assert err == ("manage.py cohort route: error: the following arguments are required: --by\n")
    assert not RoutingChange.objects.exists()


def test_a_blank_reason_is_refused(
    cohort_cli: Callable[..., tuple[int, str, str]], mover: Any
) -> None:
    code, _, err = cohort_cli(
        "route", "trips", "--everyone", "--by", mover.username, "--reason", "  "
    )
    assert (code, err) == (1, "CommandError: a reason is required: say why routing changes\n")
    assert not RoutingChange.objects.exists()


def test_prune_says_how_many_old_mismatches_went() -> None:
    ShadowMismatch.objects.create(
        module="trips", method="GET", path="/api/v1/trips/", monolith_status=200,
        service_status=404, diff="status: monolith 200, service 404",
        recorded_at=timezone.now() - timedelta(days=15),
    )  # fmt: skip
    assert cohort("prune") == "shadow mismatches recorded over 14 days ago: 1 deleted.\n"
    assert cohort("prune", "--older-than", "3") == (
        "shadow mismatches recorded over 3 days ago: 0 deleted.\n"
    )
