from boundary_fixtures.imports.fleet.depot.events import DepotOpened
from boundary_fixtures.imports.fleet.depot.models import Depot
from monolith.platform.events import publish


def depot_open(*, name: str) -> Depot:
    depot = Depot(name=name)
    publish(DepotOpened(depot_id=depot.id))
    return depot
