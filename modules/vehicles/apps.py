from monolith.platform import registry


class VehiclesConfig(registry.FleetModuleConfig):
    name = "modules.vehicles"
    label = "vehicles"
    verbose_name = "Vehicles"
    depends_on = ()
