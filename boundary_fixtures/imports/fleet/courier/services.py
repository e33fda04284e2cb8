from boundary_fixtures.imports.fleet.depot.models import Depot


def courier_depot_label(*, name: str) -> str:
    return str(Depot(name=name))
