from uuid import UUID

from boundary_fixtures.imports.fleet.parking import api as parking_api


def meter_parking_name(*, parking_id: UUID) -> str:
    return parking_api.parking_get(parking_id=parking_id).name
