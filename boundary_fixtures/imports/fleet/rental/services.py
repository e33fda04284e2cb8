from uuid import UUID

from boundary_fixtures.imports.fleet.depot import api as depot_api


def rental_depot_name(*, depot_id: UUID) -> str:
    return depot_api.depot_get(depot_id=depot_id).name
