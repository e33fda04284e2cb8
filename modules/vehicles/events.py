"""Events the vehicles module publishes."""

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class VehicleRegistered(DomainEvent):
    """A vehicle joined the fleet, ``available``."""

    name: ClassVar[str] = "vehicles.VehicleRegistered"
    version: ClassVar[int] = 1

    vehicle_id: UUID
    vin: str
    seats: int
    registered_at: datetime


@dataclass(frozen=True, kw_only=True)
class VehicleStatusChanged(DomainEvent):
    """A vehicle moved along its lifecycle (for example ``available`` to ``maintenance``)."""

    name: ClassVar[str] = "vehicles.VehicleStatusChanged"
    version: ClassVar[int] = 1

    vehicle_id: UUID
    from_status: str
    to_status: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True, kw_only=True)
class VehicleWentOffline(DomainEvent):
    """A vehicle stopped answering (taken offline by staff or a module); ``trip_id`` names the
    trip that held it then, if any: that trip still holds it, it cannot go on with it."""

    name: ClassVar[str] = "vehicles.VehicleWentOffline"
    version: ClassVar[int] = 1

    vehicle_id: UUID
    trip_id: UUID | None
    from_status: str
    reason: str
    went_offline_at: datetime
