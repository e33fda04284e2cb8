from uuid import UUID

from boundary_fixtures.imports.fleet.depot import api as depot_api
from boundary_fixtures.imports.fleet.garage import api as garage_api


def towing_destination(*, garage_id: UUID, depot_id: UUID) -> str:
    garage = garage_api.garage_get(garage_id=garage_id)
    return f"{garage.name} at {depot_api.depot_get(depot_id=depot_id).name}"
