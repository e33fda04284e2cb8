"""Events the depot fixture module publishes."""

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from monolith.platform.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class DepotOpened(DomainEvent):
    name: ClassVar[str] = "imports_depot.DepotOpened"
    version: ClassVar[int] = 1

    depot_id: UUID
