from monolith.platform import registry


class LedgerConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.imports.fleet.ledger"
    label = "imports_ledger"
    depends_on = ("imports_depot",)
