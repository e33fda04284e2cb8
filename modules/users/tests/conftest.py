"""Fixtures of the users module's tests."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from modules.users import services
from modules.users.models import Rider


@pytest.fixture(autouse=True)
def _throttle_history_cleared() -> Iterator[None]:
    """Sign-up throttling counts in the cache; each test starts with a clean slate."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def registered_rider(db: Any) -> Rider:
    return services.rider_register(
        username="carla",
        email="carla@example.com",
        password="a-Long-and-Unusual-passphrase-42",
        display_name="Carla",
    )


@pytest.fixture
def funded_rider(rider: Any) -> Any:
    """The shared ``rider`` fixture with 100.00 available."""
    services.wallet_top_up(rider_id=rider.id, amount=Decimal("100.00"), reference="seed")
    return rider
