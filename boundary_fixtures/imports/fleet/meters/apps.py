from monolith.platform import registry


class MetersConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.meters"
    label = "imports_meters"
    depends_on = ("imports_parking",)
