def charging_depot_open(*, name: str) -> str:
    from boundary_fixtures.imports.fleet.depot.services import depot_open

    return str(depot_open(name=name).id)
