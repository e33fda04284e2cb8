"""Payment gateways: the interface billing charges cards through, and the sandbox provider.

The gateway in use is named by ``settings.BILLING_PAYMENT_GATEWAY`` (a dotted path to a class
taking no arguments); without it the sandbox is used.

``SandboxGateway`` behaves like a real provider's test mode, modelled on Stripe's test cards:
``tok_visa`` and ``tok_mastercard`` succeed, ``tok_chargeDeclined``, ``tok_insufficientFunds``
and ``tok_expiredCard`` decline with ``card_declined``, ``insufficient_funds`` and
``expired_card``, ``tok_processingError`` fails as an outage would (``GatewayUnavailable``), and
any other token declines with ``invalid_card_token``. Its charges and refunds are rows in its
own tables, so idempotency keys hold across processes.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Sum
from django.utils.module_loading import import_string

from modules.billing.models import SandboxCharge, SandboxRefund
from monolith.platform.errors import InvalidRequest
from monolith.platform.money import money_amount_clean
from monolith.platform.registry import module_atomic

DEFAULT_GATEWAY = "modules.billing.gateways.SandboxGateway"


class GatewayError(Exception):
    """Base of the errors a gateway raises (declines are results, not errors)."""


class GatewayUnavailable(GatewayError):
    """The provider could not process the request now; the same request may be retried."""


class IdempotencyKeyReused(GatewayError):
    """The idempotency key was already used for a request with different parameters."""


class GatewayRequestInvalid(GatewayError):
    """The request is malformed (for example a non-positive amount)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeResult:
    succeeded: bool
    charge_id: str
    amount: Decimal
    currency: str
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundResult:
    succeeded: bool
    refund_id: str
    charge_id: str
    amount: Decimal
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CardDetails:
    brand: str
    last4: str


class PaymentGateway(Protocol):
    """What billing needs from a payment provider."""

    def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        """Charge the card; a decline is a result with ``succeeded=False`` and a code.

        Raises ``GatewayUnavailable`` on a transient failure and ``IdempotencyKeyReused``
        when ``idempotency_key`` was used before with other parameters.
        """
        ...

    def refund(self, *, charge_id: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        """Give back ``amount`` of a charge; refusals are results with a failure code."""
        ...

    def card_details(self, *, card_token: str) -> CardDetails:
        """Brand and last four digits of a tokenised card, for display."""
        ...


def payment_gateway() -> PaymentGateway:
    """The gateway named by ``settings.BILLING_PAYMENT_GATEWAY`` (the sandbox by default)."""
    path = getattr(settings, "BILLING_PAYMENT_GATEWAY", DEFAULT_GATEWAY)
    gateway_class = import_string(path)
    gateway: PaymentGateway = gateway_class()
    return gateway


@dataclass(frozen=True, slots=True)
class _TestCard:
    brand: str
    last4: str
    decline_code: str = ""
    decline_message: str = ""
    unavailable: bool = False


_TEST_CARDS: dict[str, _TestCard] = {
    "tok_visa": _TestCard("visa", "4242"),
    "tok_mastercard": _TestCard("mastercard", "4444"),
    "tok_chargeDeclined": _TestCard("visa", "0002", "card_declined", "Your card was declined."),
    "tok_insufficientFunds": _TestCard(
        "visa", "9995", "insufficient_funds", "Your card has insufficient funds."
    ),
    "tok_expiredCard": _TestCard("visa", "0069", "expired_card", "Your card has expired."),
    "tok_processingError": _TestCard("visa", "0119", unavailable=True),
}
_UNKNOWN_CARD = _TestCard("unknown", "", "invalid_card_token", "The card token is not recognised.")


class SandboxGateway:
    """A provider in test mode whose state lives in the sandbox tables."""

    def card_details(self, *, card_token: str) -> CardDetails:
        card = _TEST_CARDS.get(card_token, _UNKNOWN_CARD)
        return CardDetails(brand=card.brand, last4=card.last4)

    def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        _check_request(amount=amount, idempotency_key=idempotency_key)
        request = (amount, currency, card_token, description)
        earlier = SandboxCharge.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            return _replay_charge(earlier, request)

        card = _TEST_CARDS.get(card_token, _UNKNOWN_CARD)
        if card.unavailable:
            # Nothing is recorded: the provider never got as far as charging.
            raise GatewayUnavailable("The sandbox provider had a processing error; try again.")
        try:
            # A savepoint, so a concurrent request that won the key leaves the caller's
            # transaction usable.
            with module_atomic("billing"):
                record = SandboxCharge.objects.create(
                    charge_id=f"ch_sandbox_{uuid.uuid4().hex[:24]}",
                    idempotency_key=idempotency_key,
                    amount=amount,
                    currency=currency,
                    card_token=card_token,
                    description=description,
                    status=(
                        SandboxCharge.Status.FAILED
                        if card.decline_code
                        else SandboxCharge.Status.SUCCEEDED
                    ),
                    failure_code=card.decline_code,
                    failure_message=card.decline_message,
                )
        except IntegrityError:
            winner = SandboxCharge.objects.get(idempotency_key=idempotency_key)
            return _replay_charge(winner, request)
        return _charge_result(record)

    def refund(self, *, charge_id: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        _check_request(amount=amount, idempotency_key=idempotency_key)
        with module_atomic("billing"):
            charge = SandboxCharge.objects.select_for_update().filter(charge_id=charge_id).first()
            # Looked up under the charge's lock, so a concurrent request with the same key
            # has either committed its refund or not started.
            earlier = (
                SandboxRefund.objects.select_related("charge")
                .filter(idempotency_key=idempotency_key)
                .first()
            )
            if earlier is not None:
                return _replay_refund(earlier, charge_id=charge_id, amount=amount)
            if charge is None:
                return _refused(charge_id, amount, "resource_missing", "No such charge.")
            if charge.status != SandboxCharge.Status.SUCCEEDED:
                return _refused(
                    charge_id, amount, "charge_not_refundable", "The charge did not succeed."
                )
            refunded = charge.refunds.aggregate(total=Sum("amount"))["total"] or Decimal("0")
            if amount > charge.amount - refunded:
                return _refused(
                    charge_id,
                    amount,
                    "amount_too_large",
                    f"Refund amount {amount} is greater than the {charge.amount - refunded} "
                    "left on the charge.",
                )
            record = SandboxRefund.objects.create(
                refund_id=f"re_sandbox_{uuid.uuid4().hex[:24]}",
                charge=charge,
                amount=amount,
                idempotency_key=idempotency_key,
            )
        return RefundResult(
            succeeded=True, refund_id=record.refund_id, charge_id=charge_id, amount=amount
        )


def _check_request(*, amount: Decimal, idempotency_key: str) -> None:
    try:
        money_amount_clean(amount, field="amount")
    except InvalidRequest as exc:
        raise GatewayRequestInvalid(exc.message) from exc
    if not idempotency_key:
        raise GatewayRequestInvalid("An idempotency key is required.")


def _charge_result(record: SandboxCharge) -> ChargeResult:
    return ChargeResult(
        succeeded=record.status == SandboxCharge.Status.SUCCEEDED,
        charge_id=record.charge_id,
        amount=record.amount,
        currency=record.currency,
        failure_code=record.failure_code,
        failure_message=record.failure_message,
    )


def _replay_charge(earlier: SandboxCharge, request: tuple[Decimal, str, str, str]) -> ChargeResult:
    original = (earlier.amount, earlier.currency, earlier.card_token, earlier.description)
    if original != request:
        raise IdempotencyKeyReused(
            f"Idempotency key {earlier.idempotency_key!r} was used for a charge with other "
            "parameters."
        )
    return _charge_result(earlier)


def _replay_refund(earlier: SandboxRefund, *, charge_id: str, amount: Decimal) -> RefundResult:
    if (earlier.charge.charge_id, earlier.amount) != (charge_id, amount):
        raise IdempotencyKeyReused(
            f"Idempotency key {earlier.idempotency_key!r} was used for a refund with other "
            "parameters."
        )
    return RefundResult(
        succeeded=True, refund_id=earlier.refund_id, charge_id=charge_id, amount=earlier.amount
    )


def _refused(charge_id: str, amount: Decimal, code: str, message: str) -> RefundResult:
    return RefundResult(
        succeeded=False,
        refund_id="",
        charge_id=charge_id,
        amount=amount,
        failure_code=code,
        failure_message=message,
    )
