from boundary_fixtures.imports.fleet.depot.models import Depot


def test_scanner_names_depots() -> None:
    assert str(Depot(name="north")) == "north"
