from monolith.platform import registry


class FixtureLenderConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.orm.fixture_lender"
    label = "fixture_lender"
    default_auto_field = "django.db.models.BigAutoField"
