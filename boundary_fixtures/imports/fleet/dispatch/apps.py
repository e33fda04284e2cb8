from monolith.platform import registry


class DispatchConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.dispatch"
    label = "imports_dispatch"
    depends_on = ()
