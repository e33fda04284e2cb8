from boundary_fixtures.imports.fleet.depot.events import DepotOpened


def depot_opened_garage_prepare(event: DepotOpened) -> None:
    """A new depot gets a garage bay; nothing to store in the fixture."""
