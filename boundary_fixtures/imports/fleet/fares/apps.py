from monolith.platform import registry


class FaresConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.fares"
    label = "imports_fares"
    depends_on = ("imports_tolls",)
