from monolith.platform import registry


class CourierConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.courier"
    label = "imports_courier"
    depends_on = ("imports_depot",)
