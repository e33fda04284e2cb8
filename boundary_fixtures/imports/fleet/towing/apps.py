from monolith.platform import registry


class TowingConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.towing"
    label = "imports_towing"
    depends_on = ("imports_garage",)
