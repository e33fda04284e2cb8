from monolith.platform import registry


class ChargingConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.charging"
    label = "imports_charging"
    depends_on = ("imports_depot",)
