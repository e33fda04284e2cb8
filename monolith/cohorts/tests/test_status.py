"""Status: the cohort's size computed in SQL as routing computes it, and traffic per side."""

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings
from django.utils import timezone

from monolith.cohorts.routing import route_for_account
from monolith.cohorts.rules import Side
from monolith.cohorts.selectors import cohort_status
from monolith.cohorts.traffic import latency_quantile, traffic_flush, traffic_record
from monolith.platform.models import FeedPosition

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("routed")
def test_the_cohort_size_counts_exactly_the_accounts_routing_sends(
    route: Callable[..., Any],
) -> None:
    users = get_user_model()
    accounts = users.objects.bulk_create(users(username=f"rider-{i:04d}") for i in range(500))
    users.objects.bulk_create([users(username="gone", is_active=False)])
    beta = Group.objects.create(name="beta")
    beta.user_set.add(*accounts[:7])
    route(
        percent=Decimal("33.33"),
        add_usernames=frozenset({"rider-0499"}),
        add_groups=frozenset({"beta"}),
    )
    expected = sum(
        route_for_account("trips", account.pk).side is Side.SERVICE
        for account in users.objects.filter(is_active=True)
    )
    status = cohort_status("trips")
    assert status.cohort_size == expected
    assert 100 < expected < 250  # about 175: a third of 500, the group and the named rider
    assert status.accounts == users.objects.filter(is_active=True).count()
    assert status.stage == "partial 33.33% + 1 user + group beta"


def test_traffic_per_side_over_the_window() -> None:
    # Other modules' traffic and an old window are not counted.
    for _ in range(90):
        traffic_record("trips", Side.MONOLITH, 200, 0.004)
    for _ in range(10):
        traffic_record("trips", Side.MONOLITH, 200, 0.120)
    for code in (200, 200, 502, 200):
        traffic_record("trips", Side.SERVICE, code, 0.009)
    traffic_record("billing", Side.SERVICE, 500, 1.0)
    traffic_flush()
    status = cohort_status("trips")
    assert status.traffic is not None
    monolith, service = status.traffic[Side.MONOLITH], status.traffic[Side.SERVICE]
    assert (monolith.requests, monolith.errors, service.requests, service.errors) == (100, 0, 4, 1)
    assert status.split_text == "monolith 96.2% · service 3.8% of 104 requests"
    assert status.side_text(Side.SERVICE).startswith("4 requests, 25.0% errors, p95 ")
    # 95 of 100 fall at or below the slow bucket (100-150 ms): the p95 lies inside it.
    assert monolith.p95_ms is not None
    assert 100 < monolith.p95_ms <= 150
    assert status.shadow_text == "off, mismatches —"


def test_without_a_shared_redis_status_says_it_cannot_count() -> None:
    with override_settings(COHORT_ROUTING_REDIS_URL=""):
        status = cohort_status("trips")
    assert status.traffic is None
    assert status.split_text == "— (no shared Redis to count in)"


def test_the_p95_is_interpolated_within_its_bucket() -> None:
    assert latency_quantile([0] * 23, 0.95) is None
    buckets = [0] * 23
    buckets[3] = 100  # all between 3 and 5 ms
    assert latency_quantile(buckets, 0.95) == pytest.approx(4.9)
    buckets[22] = 100  # slower than the last bound: the bound is all that can be said
    assert latency_quantile(buckets, 0.95) == 10000


def test_status_says_how_far_the_services_writes_have_reached_this_side() -> None:
    assert cohort_status("trips").data_text == "not mirrored (no service for it here)"
    with override_settings(FLEET_SERVICE_URLS={"trips": "http://trips:8000"}):
        assert cohort_status("trips").data_text.startswith("mirrored; the service's feed not read")
        FeedPosition.objects.create(
            source="http://trips:8000",
            publisher="trips",
            position=4512,
            pulled_at=timezone.now() - timedelta(seconds=3),
            received=1,
            applied=3204,
        )
        text = cohort_status("trips").data_text
    assert re.fullmatch(
        r"service's feed read 3\.\d s ago: place 4,512, 1 event and 3204 row changes taken in",
        text,
    ), text
