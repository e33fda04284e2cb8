"""drf-spectacular: the OpenAPI 3 description served at /api/schema/."""

SPECTACULAR_SETTINGS = {
    "TITLE": "Fleet platform API",
    "DESCRIPTION": (
        "Autonomous-vehicle fleet platform: vehicles, trips, users and billing. "
        "Authenticate API clients with `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    # One named component per choice set, so two modules' "status" fields never collide.
    "ENUM_NAME_OVERRIDES": {
        "VehicleStatusEnum": "modules.vehicles.lifecycle.VehicleStatus",
        "TripStatusEnum": "modules.trips.models.TripStatus",
        "TripCancelReasonEnum": "modules.trips.models.CancelReason",
        "TripCancelledByEnum": "modules.trips.models.CancelledBy",
        "BookingStateEnum": "modules.trips.models.BookingState",
        "BookingStepEnum": "modules.trips.models.BookingStep",
        "BookingStepActionEnum": "modules.trips.models.BookingStepAction",
        "BookingStepOutcomeEnum": "modules.trips.models.BookingStepOutcome",
        "RiderLanguageEnum": "modules.users.models.Rider.Language",
        "CreditHoldStatusEnum": "modules.users.models.CreditHold.Status",
        "LedgerEntryKindEnum": "modules.users.models.LedgerEntry.Kind",
        "InvoiceStatusEnum": "modules.billing.models.Invoice.Status",
        "InvoiceLineKindEnum": "modules.billing.models.InvoiceLine.Kind",
        "PaymentOutcomeEnum": "modules.billing.models.Payment.Status",
        "PaymentSourceEnum": "modules.billing.models.Payment.Source",
        "CreditPurchaseStatusEnum": "modules.billing.models.CreditPurchase.Status",
    },
}
