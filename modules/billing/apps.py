from monolith.platform import registry


class BillingConfig(registry.FleetModuleConfig):
    name = "modules.billing"
    label = "billing"
    verbose_name = "Billing"
    depends_on = ("trips", "users")

    def ready(self) -> None:
        from modules.billing import handlers
        from modules.billing.events import (
            InvoiceIssued,
            InvoicePaid,
            InvoicePaymentFailed,
            InvoiceVoided,
        )
        from modules.trips.events import TripCancelled, TripCompleted, TripInterrupted
        from monolith.platform.events import subscribe

        subscribe(TripCompleted, handlers.trip_completed_invoice, subscriber="billing")
        subscribe(TripInterrupted, handlers.trip_interrupted_release_hold, subscriber="billing")
        subscribe(TripCancelled, handlers.trip_cancelled_release_hold, subscriber="billing")
        # Billing's own events: each step of collecting an invoice is a delivery of its own.
        subscribe(InvoiceIssued, handlers.invoice_issued_collect, subscriber="billing")
        subscribe(
            InvoicePaymentFailed,
            handlers.invoice_payment_failed_collect_from_wallet,
            subscriber="billing",
        )
        subscribe(InvoicePaid, handlers.invoice_paid_release_hold, subscriber="billing")
        subscribe(InvoiceVoided, handlers.invoice_voided_release_hold, subscriber="billing")
