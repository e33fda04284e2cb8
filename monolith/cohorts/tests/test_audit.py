"""Every routing change is checked and audited; nothing changes routing behind the audit."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from monolith.cohorts.errors import RoutingForbidden
from monolith.cohorts.models import RoutingChange, RoutingFlag
from monolith.cohorts.services import CohortChange, cohort_change
from monolith.platform.errors import InvalidRequest

pytestmark = pytest.mark.django_db


def test_a_routing_flag_written_directly_is_refused(make_user: Callable[..., Any]) -> None:
    with pytest.raises(RoutingForbidden, match=r"only through `manage\.py cohort`"):
        RoutingFlag.objects.create(name="route.trips", everyone=True)
    assert not RoutingFlag.objects.exists()
    # Other waffle flags are ordinary flags.
    RoutingFlag.objects.create(name="new-pricing", everyone=True)


def test_a_routing_flags_targets_cannot_be_changed_directly(
    route: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    ann = make_user("ann")
    beta, gamma = Group.objects.create(name="beta"), Group.objects.create(name="gamma")
    route(percent=Decimal(5), add_groups=frozenset({"gamma"}))
    flag = RoutingFlag.objects.get(name="route.trips")
    # Each refusal in a savepoint of its own: it spoils the transaction it happens in.
    for attempt in (
        lambda: flag.users.add(ann),
        lambda: ann.routingflag_set.add(flag),
        lambda: flag.groups.add(beta),
        lambda: cast(Any, gamma).routingflag_set.clear(),
        flag.delete,
    ):
        with pytest.raises(RoutingForbidden), transaction.atomic():
            attempt()
    assert not flag.users.exists()
    assert list(flag.groups.all()) == [gamma]


def test_the_flag_and_its_audit_are_one_transaction(
    route: Callable[..., Any], mover: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    route(percent=Decimal(5))

    def refuse(**_: Any) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(RoutingChange.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        cohort_change(module="trips", change=CohortChange(everyone=True), by=mover, reason="all in")
    flag = RoutingFlag.objects.get(name="route.trips")
    assert (flag.everyone, flag.percent) == (None, Decimal("5.00"))


def test_the_reason_is_required_even_in_the_database(mover: Any, route: Callable[..., Any]) -> None:
    with pytest.raises(InvalidRequest, match="a reason is required"):
        route(everyone=True, reason="   ")
    with pytest.raises(IntegrityError), transaction.atomic():
        RoutingChange.objects.create(
            module="trips", changed_by_username="x", before={}, after={}, reason=""
        )


def test_a_group_in_a_cohort_cannot_be_deleted(route: Callable[..., Any]) -> None:
    beta = Group.objects.create(name="beta")
    route(add_groups=frozenset({"beta"}))
    with (
        pytest.raises(RoutingForbidden, match="group 'beta' is in the cohort of trips"),
        transaction.atomic(),
    ):
        beta.delete()
    assert Group.objects.filter(name="beta").exists()
    Group.objects.create(name="gamma").delete()  # one no cohort names goes as usual


def test_the_audit_keeps_the_name_of_an_account_that_is_gone(
    route: Callable[..., Any], mover: Any
) -> None:
    route(everyone=True, reason="cut over")
    mover.delete()
    record = RoutingChange.objects.get()
    assert (record.changed_by, record.changed_by_username) == (None, "mover-mia")
