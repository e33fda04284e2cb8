from uuid import UUID

from boundary_fixtures.imports.fleet.depot.api import Depot, DepotSummary, depot_get


def ledger_depot(*, depot_id: UUID) -> DepotSummary:
    return depot_get(depot_id=depot_id)


def ledger_open_depot(*, name: str) -> UUID:
    # Depot and services only pass through depot's api: they are private to depot all the same.
    from boundary_fixtures.imports.fleet.depot.api import services

    depot: Depot = services.depot_open(name=name)
    return depot.id
