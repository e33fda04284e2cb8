import uuid

from boundary_fixtures.imports.fleet.depot import api as depot_api
from boundary_fixtures.imports.fleet.garage.services import garage_depot_name


def test_garage_names_its_depot() -> None:
    depot_id = uuid.uuid4()
    assert garage_depot_name(depot_id=depot_id) == depot_api.depot_get(depot_id=depot_id).name
