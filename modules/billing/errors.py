"""The billing module's domain errors; other modules import them from ``modules.billing.api``."""

from monolith.platform.errors import Conflict, FleetError, NotFound, ServiceUnavailable


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"


class TariffNotFound(NotFound):
    code = "tariff_not_found"


class NoTariffInForce(Conflict):
    """No tariff covers the moment asked about, so nothing can be priced."""

    code = "no_tariff_in_force"


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class PaymentMethodNotFound(NotFound):
    code = "payment_method_not_found"


class NoPaymentMethod(Conflict):
    """Something must be charged, but the rider has no card on file (409)."""

    code = "no_payment_method"


class CreditPurchaseNotFound(NotFound):
    code = "credit_purchase_not_found"


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"


class CardDeclined(FleetError):
    """The card was declined (402); ``code`` is the provider's reason, such as ``card_declined``."""

    status = 402
    code = "card_declined"

    def __init__(self, message: str, *, code: str = "", field: str | None = None) -> None:
        super().__init__(message, field=field)
        if code:
            self.code = code


class PaymentGatewayUnavailable(ServiceUnavailable):
    """The payment provider failed transiently; nothing was charged, retry later (503)."""

    code = "payment_gateway_unavailable"
