"""The benchmark's event: a beacon, emitted and handled, with nothing else to do."""

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class BeaconEmitted(DomainEvent):
    """Beacon ``sequence`` of a benchmark run; ``beacon_id`` is its aggregate."""

    name: ClassVar[str] = "benchmark.BeaconEmitted"
    version: ClassVar[int] = 1

    beacon_id: UUID
    sequence: int


def beacon_handle(event: BeaconEmitted) -> None:
    """Nothing: the delivery's inbox row (its ``processed_at``) is the measurement."""
