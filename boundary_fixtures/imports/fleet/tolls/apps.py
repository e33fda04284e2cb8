from monolith.platform import registry


class TollsConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.tolls"
    label = "imports_tolls"
    depends_on = ("imports_fares",)
