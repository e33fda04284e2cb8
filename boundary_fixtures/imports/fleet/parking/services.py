from uuid import UUID

from boundary_fixtures.imports.fleet.meters import api as meters_api


def parking_meter_name(*, meter_id: UUID) -> str:
    return meters_api.meter_get(meters_id=meter_id).name
