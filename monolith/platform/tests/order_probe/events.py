"""The probe's event and its handler."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent, subscribe, subscriptions_only

# The worker's environment names the file the handler appends to.
PROBE_FILE_VARIABLE = "FLEET_ORDER_PROBE_FILE"


@dataclass(frozen=True, kw_only=True)
class VehicleProbeStepped(DomainEvent):
    """Step ``step`` of a probe run on one vehicle (tests only)."""

    name: ClassVar[str] = "vehicles.VehicleProbeStepped"
    version: ClassVar[int] = 1

    vehicle_id: UUID
    step: int


def vehicle_probe_record(event: VehicleProbeStepped) -> None:
    """Append ``<vehicle id> <step>`` to the probe file: the order the steps were handled in."""
    with open(os.environ[PROBE_FILE_VARIABLE], "a") as out:
        out.write(f"{event.vehicle_id} {event.step}\n")


def order_probe_subscribe() -> None:
    subscribe(VehicleProbeStepped, vehicle_probe_record, subscriber="trips")


@contextmanager
def order_probe_subscribed() -> Iterator[None]:
    """Within the block, trips handles the probe's event (in the test process)."""
    with subscriptions_only(VehicleProbeStepped):
        order_probe_subscribe()
        yield
