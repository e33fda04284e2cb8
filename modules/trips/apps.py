from monolith.platform import registry


class TripsConfig(registry.FleetModuleConfig):
    name = "modules.trips"
    label = "trips"
    verbose_name = "Trips"
    depends_on = ("vehicles", "users")

    def ready(self) -> None:
        from modules.trips.handlers import vehicle_went_offline_interrupt_trip
        from modules.vehicles.events import VehicleWentOffline
        from monolith.platform.events import subscribe

        subscribe(VehicleWentOffline, vehicle_went_offline_interrupt_trip, subscriber="trips")
