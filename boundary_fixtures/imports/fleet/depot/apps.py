from monolith.platform import registry


class DepotConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.depot"
    label = "imports_depot"
    depends_on = ()
