from uuid import UUID

from boundary_fixtures.imports.fleet.tolls import api as tolls_api


def fare_toll_name(*, toll_id: UUID) -> str:
    return tolls_api.toll_get(tolls_id=toll_id).name
