from monolith.platform import registry


class ParkingConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.parking"
    label = "imports_parking"
    depends_on = ()
