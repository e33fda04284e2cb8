from django.db.models.signals import post_delete

from monolith.platform import registry


class FixtureCleanConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.orm.fixture_clean"
    label = "fixture_clean"
    default_auto_field = "django.db.models.BigAutoField"
    depends_on = ("fixture_lender",)

    def ready(self) -> None:
        from boundary_fixtures.orm.fixture_clean import receivers

        post_delete.connect(
            receivers.account_deleted, sender="fixture_clean.Account", dispatch_uid="clean-account"
        )
