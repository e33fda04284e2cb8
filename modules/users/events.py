"""Events the users module publishes."""

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class RiderRegistered(DomainEvent):
    """A person signed up as a rider; ``rider_id`` is their account id."""

    name: ClassVar[str] = "users.RiderRegistered"
    version: ClassVar[int] = 1

    rider_id: UUID
    username: str
