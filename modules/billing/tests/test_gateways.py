"""The sandbox payment provider: test cards, idempotency keys, refunds, and gateway choice."""

from decimal import Decimal
from typing import Any

import pytest

from modules.billing.gateways import (
    CardDetails,
    ChargeResult,
    GatewayRequestInvalid,
    GatewayUnavailable,
    IdempotencyKeyReused,
    RefundResult,
    SandboxGateway,
    payment_gateway,
)
from modules.billing.models import SandboxCharge, SandboxRefund


def _charge(card: str = "tok_visa", key: str = "key-1", **overrides: Any) -> ChargeResult:
    params: dict[str, Any] = {
        "amount": Decimal("17.50"),
        "currency": "EUR",
        "card_token": card,
        "idempotency_key": key,
        "description": "Invoice INV-000001",
    }
    params.update(overrides)
    return SandboxGateway().charge(**params)


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
def test_good_cards_are_charged(db: Any, token: str) -> None:
    result = _charge(token)
    assert result.succeeded
    assert result.charge_id.startswith("ch_")
    assert result.failure_code == ""
    record = SandboxCharge.objects.get(charge_id=result.charge_id)
    assert record.amount == Decimal("17.50")
    assert record.status == SandboxCharge.Status.SUCCEEDED


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_expiredCard", "expired_card"),
        ("tok_nobodyKnowsThis", "invalid_card_token"),
    ],
)
def test_declining_cards_decline_with_their_code(db: Any, token: str, code: str) -> None:
    result = _charge(token)
    assert not result.succeeded
    assert result.failure_code == code
    assert result.failure_message
    # Providers record declined charges too.
    assert SandboxCharge.objects.get(charge_id=result.charge_id).failure_code == code


def test_processing_error_is_transient_and_records_nothing(db: Any) -> None:
    with pytest.raises(GatewayUnavailable):
        _charge("tok_processingError")
    assert not SandboxCharge.objects.exists()


def test_same_key_and_parameters_replay_the_original_charge(db: Any) -> None:
    first = _charge(key="same")
    # A new gateway object: the memory is the sandbox's tables, not the instance.
    second = _charge(key="same")
    assert second == first
    assert SandboxCharge.objects.count() == 1


def test_same_key_replays_a_decline_too(db: Any) -> None:
    first = _charge("tok_chargeDeclined", key="declined")
    assert _charge("tok_chargeDeclined", key="declined") == first
    assert SandboxCharge.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"amount": Decimal("17.51")},
        {"currency": "USD"},
        {"card_token": "tok_mastercard"},
        {"description": "Invoice INV-000002"},
    ],
)
def test_same_key_with_other_parameters_is_refused(db: Any, change: dict[str, Any]) -> None:
    _charge(key="reused")
    with pytest.raises(IdempotencyKeyReused):
        _charge(key="reused", **change)
    assert SandboxCharge.objects.count() == 1


def test_malformed_charges_are_refused(db: Any) -> None:
    with pytest.raises(GatewayRequestInvalid):
        _charge(amount=Decimal("0"))
    with pytest.raises(GatewayRequestInvalid):
        _charge(amount=Decimal("1.005"))
    with pytest.raises(GatewayRequestInvalid):
        _charge(key="")


def test_refunds_partial_then_full_then_refused_beyond(db: Any) -> None:
    gateway = SandboxGateway()
    charge = _charge()
    partial = gateway.refund(
        charge_id=charge.charge_id, amount=Decimal("5.00"), idempotency_key="r1"
    )
    assert partial.succeeded
    assert partial.refund_id.startswith("re_")
    rest = gateway.refund(charge_id=charge.charge_id, amount=Decimal("12.50"), idempotency_key="r2")
    assert rest.succeeded
    beyond = gateway.refund(
        charge_id=charge.charge_id, amount=Decimal("0.01"), idempotency_key="r3"
    )
    assert not beyond.succeeded
    assert beyond.failure_code == "amount_too_large"
    assert SandboxRefund.objects.filter(charge__charge_id=charge.charge_id).count() == 2


def test_refund_keys_are_idempotent(db: Any) -> None:
    gateway = SandboxGateway()
    charge = _charge()
    first = gateway.refund(charge_id=charge.charge_id, amount=Decimal("5.00"), idempotency_key="r")
    again = gateway.refund(charge_id=charge.charge_id, amount=Decimal("5.00"), idempotency_key="r")
    assert again == first
    assert SandboxRefund.objects.count() == 1
    with pytest.raises(IdempotencyKeyReused):
        gateway.refund(charge_id=charge.charge_id, amount=Decimal("6.00"), idempotency_key="r")


def test_refunds_of_unknown_or_failed_charges_are_refused(db: Any) -> None:
    gateway = SandboxGateway()
    missing = gateway.refund(charge_id="ch_nope", amount=Decimal("1.00"), idempotency_key="x")
    assert (missing.succeeded, missing.failure_code) == (False, "resource_missing")
    declined = _charge("tok_chargeDeclined")
    refused = gateway.refund(
        charge_id=declined.charge_id, amount=Decimal("1.00"), idempotency_key="y"
    )
    assert (refused.succeeded, refused.failure_code) == (False, "charge_not_refundable")
    assert not SandboxRefund.objects.exists()


def test_card_details_come_from_the_token() -> None:
    gateway = SandboxGateway()
    assert gateway.card_details(card_token="tok_visa") == CardDetails(brand="visa", last4="4242")
    assert gateway.card_details(card_token="tok_mastercard") == CardDetails(
        brand="mastercard", last4="4444"
    )
    assert gateway.card_details(card_token="tok_who").brand == "unknown"


class DecliningGateway:
    """A provider that declines every card, to show the setting picks the gateway."""

    def charge(self, **params: Any) -> ChargeResult:
        return ChargeResult(
            succeeded=False,
            charge_id="ch_declining",
            amount=params["amount"],
            currency=params["currency"],
            failure_code="do_not_honor",
            failure_message="Declined by the test gateway.",
        )

    def refund(self, *, charge_id: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        return RefundResult(succeeded=False, refund_id="", charge_id=charge_id, amount=amount)

    def card_details(self, *, card_token: str) -> CardDetails:
        return CardDetails(brand="test", last4="0000")


def test_the_sandbox_is_the_default_gateway(settings: Any) -> None:
    if hasattr(settings, "BILLING_PAYMENT_GATEWAY"):
        del settings.BILLING_PAYMENT_GATEWAY
    assert isinstance(payment_gateway(), SandboxGateway)


def test_the_setting_chooses_the_gateway(settings: Any) -> None:
    settings.BILLING_PAYMENT_GATEWAY = "modules.billing.tests.test_gateways.DecliningGateway"
    assert isinstance(payment_gateway(), DecliningGateway)
