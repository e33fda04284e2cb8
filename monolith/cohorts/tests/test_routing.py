"""Per-user routing decisions: targets, sticky percentages, no query per decision."""

import hashlib
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings

from monolith.cohorts.routing import route_for_account
from monolith.cohorts.rules import Reason, Side
from monolith.cohorts.snapshot import routing_rules, routing_snapshot_token

pytestmark = pytest.mark.django_db


def bucket(account_id: UUID) -> int:
    """The documented scheme, written out again: sha256("route.trips:<id>"), 4 bytes, % 10000."""
    digest = hashlib.sha256(f"route.trips:{account_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000


def accounts(count: int) -> list[UUID]:
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"rider-{index:04d}") for index in range(count)
    )
    return [user.pk for user in users]


def served_by_service(account_ids: list[UUID]) -> set[UUID]:
    return {
        account_id
        for account_id in account_ids
        if route_for_account("trips", account_id).side is Side.SERVICE
    }


@pytest.mark.usefixtures("routed")
def test_widening_and_narrowing_move_exactly_the_expected_users(
    route: Callable[..., Any],
) -> None:
    everyone = accounts(600)

    route(percent=Decimal(10))
    at_10 = served_by_service(everyone)
    assert at_10 == {a for a in everyone if bucket(a) < 1000}
    assert 30 <= len(at_10) <= 90  # about 60 of 600: the hash spreads accounts evenly

    route(percent=Decimal(20))
    at_20 = served_by_service(everyone)
    assert at_10 < at_20, "widening kept everyone already in the cohort"
    assert at_20 - at_10 == {a for a in everyone if 1000 <= bucket(a) < 2000}

    route(percent=Decimal(5))
    at_5 = served_by_service(everyone)
    assert at_5 < at_10
    assert at_20 - at_5 == {a for a in everyone if 500 <= bucket(a) < 2000}
    assert all(route_for_account("trips", a).reason is Reason.PERCENT for a in at_5)

    # The same accounts again, as another process would compute them after a reload.
    from monolith.cohorts.snapshot import routing_snapshot_forget

    routing_snapshot_forget()
    assert served_by_service(everyone) == at_5


@pytest.mark.usefixtures("routed")
def test_each_target_decides_as_documented(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    named, member, other = make_user("named"), make_user("member"), make_user("other")
    beta = Group.objects.create(name="beta-riders")
    member.groups.add(beta)

    assert route_for_account("trips", named.pk).reason is Reason.NOBODY  # no flag yet

    route(add_usernames=frozenset({"named"}), add_groups=frozenset({"beta-riders"}))
    assert route_for_account("trips", named.pk) == route_for_account("trips", named.pk)
    assert route_for_account("trips", named.pk).side is Side.SERVICE
    assert route_for_account("trips", named.pk).reason is Reason.USER
    assert route_for_account("trips", member.pk).reason is Reason.GROUP
    assert route_for_account("trips", other.pk).reason is Reason.OUTSIDE
    assert route_for_account("trips", None).reason is Reason.ANONYMOUS

    route(everyone=True)
    assert route_for_account("trips", other.pk).side is Side.SERVICE
    assert route_for_account("trips", None).reason is Reason.EVERYONE

    route(everyone=False)  # rolled back: the cohort is kept but nobody goes
    assert route_for_account("trips", named.pk).side is Side.MONOLITH
    assert route_for_account("trips", named.pk).reason is Reason.NOBODY


def test_a_module_this_deployable_does_not_route_stays_in_the_monolith(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    route(everyone=True)
    decision = route_for_account("trips", make_user("ann").pk)
    assert (decision.side, decision.reason) == (Side.MONOLITH, Reason.NOT_ROUTED)


@pytest.mark.usefixtures("routed")
def test_shadow_marks_the_monolith_side_only(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    inside, outside = make_user("inside"), make_user("outside")
    route(add_usernames=frozenset({"inside"}), shadow=True)
    assert route_for_account("trips", outside.pk).shadow is True
    assert route_for_account("trips", inside.pk).shadow is False  # the service serves it


@pytest.mark.usefixtures("routed")
def test_joining_a_targeted_group_moves_the_account_once_committed(
    route: Callable[..., Any],
    make_user: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    ann = make_user("ann")
    beta = Group.objects.create(name="beta-riders")
    route(add_groups=frozenset({"beta-riders"}))
    assert route_for_account("trips", ann.pk).side is Side.MONOLITH
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ann.groups.add(beta)
    assert callbacks, "joining a targeted group announces a routing change"
    assert route_for_account("trips", ann.pk).reason is Reason.GROUP
    with django_capture_on_commit_callbacks(execute=True):
        beta.user_set.remove(ann)
    assert route_for_account("trips", ann.pk).reason is Reason.OUTSIDE


def test_joining_a_group_no_cohort_targets_announces_nothing(
    make_user: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    ann = make_user("ann")
    with django_capture_on_commit_callbacks() as callbacks:
        ann.groups.add(Group.objects.create(name="night-shift"))
    assert callbacks == []


@pytest.mark.usefixtures("routed")
def test_a_warm_decision_makes_no_query(
    route: Callable[..., Any],
    make_user: Callable[..., Any],
    assert_num_queries_all_databases: Callable[[int], Any],
) -> None:
    ann, bob = make_user("ann"), make_user("bob")
    beta = Group.objects.create(name="beta-riders")
    bob.groups.add(beta)
    route(
        percent=Decimal("12.5"),
        add_usernames=frozenset({"ann"}),
        add_groups=frozenset({"beta-riders"}),
    )
    routing_rules()  # warm: loaded once, as the first request of a process does
    with assert_num_queries_all_databases(0):
        for _ in range(100):
            assert route_for_account("trips", ann.pk).reason is Reason.USER
            assert route_for_account("trips", bob.pk).reason is Reason.GROUP
            assert route_for_account("trips", None).reason is Reason.ANONYMOUS


@pytest.mark.usefixtures("routed")
def test_without_redis_each_process_reloads_every_refresh(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    ann = make_user("ann")
    with override_settings(COHORT_ROUTING_REDIS_URL="redis://127.0.0.1:1/0"):
        from monolith.cohorts.propagation import routing_redis_forget

        routing_redis_forget()
        assert route_for_account("trips", ann.pk).side is Side.MONOLITH
        assert routing_snapshot_token() is None  # nothing announced: the database decides
        # A change this process does not hear of (as if made elsewhere, announcement lost).
        from monolith.cohorts.models import RoutingFlag, routing_change_opened

        with routing_change_opened():
            RoutingFlag.objects.create(name="route.trips", everyone=True)
        time.sleep(0.3)  # one refresh (250 ms)
        assert route_for_account("trips", ann.pk).side is Side.SERVICE
    routing_redis_forget()


@pytest.mark.usefixtures("routed")
def test_waffle_answers_as_routing_does_without_its_cookie(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    import waffle
    from django.test import RequestFactory

    users = [make_user(f"rider-{index}") for index in range(40)]
    route(percent=Decimal(50))
    for user in users:
        request = RequestFactory().get("/")
        request.user = user
        expected = route_for_account("trips", user.pk).side is Side.SERVICE
        assert waffle.flag_is_active(request, "route.trips") is expected
        assert not hasattr(request, "waffles")  # no dwf_ cookie is set
