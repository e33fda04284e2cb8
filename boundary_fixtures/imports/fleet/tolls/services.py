from uuid import UUID

from boundary_fixtures.imports.fleet.fares import api as fares_api


def toll_fare_name(*, fare_id: UUID) -> str:
    return fares_api.fare_get(fares_id=fare_id).name
