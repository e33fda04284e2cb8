from monolith.platform import registry


class BillingConfig(registry.FleetModuleConfig):
    name = "modules.billing"
    label = "billing"
    verbose_name = "Billing"
    depends_on = ("trips", "users")

    def ready(self) -> None:
        from modules.billing.handlers import trip_completed_invoice
        from modules.trips.events import TripCompleted
        from monolith.platform.events import subscribe

        subscribe(TripCompleted, trip_completed_invoice, subscriber="billing")
