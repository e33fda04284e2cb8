from monolith.platform import registry


class ScannerConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.scanner"
    label = "imports_scanner"
    depends_on = ("imports_depot",)
