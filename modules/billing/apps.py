from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "modules.billing"
    label = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"
    # The modules this one may call (through their api.py) or subscribe to (their events.py).
    depends_on: tuple[str, ...] = ("trips", "users")

    def ready(self) -> None:
        from modules.billing.handlers import trip_completed_invoice
        from modules.trips.events import TripCompleted
        from monolith.platform.events import subscribe

        subscribe(TripCompleted, trip_completed_invoice, subscriber="billing")
