from monolith.platform import registry


class TripsConfig(registry.FleetModuleConfig):
    name = "modules.trips"
    label = "trips"
    verbose_name = "Trips"
    depends_on = ("vehicles", "users")
