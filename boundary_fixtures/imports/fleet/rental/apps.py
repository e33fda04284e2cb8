from monolith.platform import registry


class RentalConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.rental"
    label = "imports_rental"
    depends_on = ("imports_depot", "imports_dept")
