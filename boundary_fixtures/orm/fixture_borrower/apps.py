import functools

from django.db.models.signals import post_delete

from monolith.platform import registry


class FixtureBorrowerConfig(registry.FleetModuleConfig):
    name = "boundary_fixtures.orm.fixture_borrower"
    label = "fixture_borrower"
    default_auto_field = "django.db.models.BigAutoField"
    depends_on = ("fixture_lender",)

    def ready(self) -> None:
        from boundary_fixtures.orm.fixture_borrower import receivers

        # A string sender, resolved once the lender's model is loaded.
        # planted: signal-cross-module
        post_delete.connect(
            receivers.loan_deleted, sender="fixture_lender.Loan", dispatch_uid="borrower-loan"
        )
        # The same function again through a partial: a second connection, on its own line.
        # planted: signal-cross-module
        post_delete.connect(
            functools.partial(receivers.loan_deleted),
            sender="fixture_lender.Loan",
            dispatch_uid="borrower-loan-partial",
            weak=False,
        )
