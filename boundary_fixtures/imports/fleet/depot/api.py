"""Front door of the depot fixture module.

It imports its own services and model to do its work; those names are not in ``__all__``, so
another module taking them from here (``ledger``) breaks the boundary all the same.
"""

from dataclasses import dataclass
from uuid import UUID

from boundary_fixtures.imports.fleet.depot import services
from boundary_fixtures.imports.fleet.depot.models import Depot

__all__ = ["DepotSummary", "depot_get", "depot_open"]


@dataclass(frozen=True, kw_only=True)
class DepotSummary:
    id: UUID
    name: str


def depot_get(*, depot_id: UUID) -> DepotSummary:
    """The depot with this id."""
    return DepotSummary(id=depot_id, name="depot")


def depot_open(*, name: str) -> DepotSummary:
    """Open a depot and announce it."""
    depot: Depot = services.depot_open(name=name)
    return DepotSummary(id=depot.id, name=depot.name)
