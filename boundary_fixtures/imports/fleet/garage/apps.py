from monolith.platform import registry


class GarageConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.garage"
    label = "imports_garage"
    depends_on = ("imports_depot",)

    def ready(self) -> None:
        from boundary_fixtures.imports.fleet.depot.events import DepotOpened
        from boundary_fixtures.imports.fleet.garage.handlers import depot_opened_garage_prepare
        from monolith.platform.events import subscribe

        subscribe(DepotOpened, depot_opened_garage_prepare, subscriber="imports_garage")
