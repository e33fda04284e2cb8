"""Fixtures of the vehicles tests: valid VINs and vehicles registered through the service."""

import uuid
from collections.abc import Callable
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from modules.vehicles import services
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import Vehicle
from modules.vehicles.vin import vin_check_digit

_serials = count(1)


def make_vin(serial: int, prefix: str = "1FTFW1E5") -> str:
    """A VIN with a correct check digit: ``prefix`` (8 chars), the digit, an 8-digit serial."""
    draft = f"{prefix}0{serial:08d}"
    return draft[:8] + vin_check_digit(draft) + draft[9:]


@pytest.fixture
def vin() -> Callable[[], str]:
    return lambda: make_vin(next(_serials))


@pytest.fixture
def make_vehicle(db: Any, vin: Callable[[], str]) -> Callable[..., Vehicle]:
    """Register a vehicle (Berlin by default) and, if asked, put it straight into ``status``.

    A vehicle put into ``reserved`` or ``in_trip`` is held by a made-up trip, whose id is its
    ``current_trip_id``.
    """

    def make(status: str | None = None, **fields: Any) -> Vehicle:
        fields.setdefault("vin", vin())
        fields.setdefault("make", "Zoox")
        fields.setdefault("model", "Robotaxi")
        fields.setdefault("seats", 4)
        fields.setdefault("latitude", Decimal("52.520000"))
        fields.setdefault("longitude", Decimal("13.405000"))
        vehicle = services.vehicle_register(**fields)
        if status is not None and status != vehicle.status:
            # Set up the state directly: walking the lifecycle is what other tests check.
            held = status in {VehicleStatus.RESERVED, VehicleStatus.IN_TRIP}
            Vehicle.objects.filter(pk=vehicle.pk).update(
                status=status, current_trip_id=uuid.uuid4() if held else None
            )
            vehicle.refresh_from_db()
        return vehicle

    return make
