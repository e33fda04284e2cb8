"""The trip list runs the same number of queries whatever the page size."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from modules.trips.models import Trip, TripStatus
from modules.trips.tests.conftest import ROUTE

pytestmark = pytest.mark.django_db

# Token and user, the caller's roles, the count, the page.
LIST_QUERIES = 4


@pytest.fixture
def sixty_completed_trips(rider: Any, other_rider: Any) -> None:
    now = timezone.now()
    Trip.objects.bulk_create(
        Trip(
            rider_id=(rider if index % 2 else other_rider).id,
            vehicle_id=Trip().id,
            status=TripStatus.COMPLETED,
            requested_at=now - timedelta(hours=index + 2),
            assigned_at=now - timedelta(hours=index + 2),
            started_at=now - timedelta(hours=index + 1, minutes=50),
            completed_at=now - timedelta(hours=index + 1, minutes=30),
            distance_km=Decimal("5.00"),
            duration_seconds=1200,
            **ROUTE,
        )
        for index in range(60)
    )


@pytest.mark.usefixtures("sixty_completed_trips")
@pytest.mark.parametrize("who", ["staff", "rider"])
def test_list_query_count_does_not_grow_with_the_page(
    client_for: Callable[[Any], APIClient],
    assert_num_queries_all_databases: Any,
    request: pytest.FixtureRequest,
    who: str,
) -> None:
    client = client_for(request.getfixturevalue(who))
    expected_rows = {"staff": (5, 50), "rider": (5, 30)}[who]

    for page_size, rows in zip((5, 50), expected_rows, strict=True):
        with assert_num_queries_all_databases(LIST_QUERIES):
            response = client.get("/api/v1/trips/", {"page_size": page_size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == rows
