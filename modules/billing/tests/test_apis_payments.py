"""REST: the rider's payment method, payments and refunds."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from modules.billing import services
from modules.billing.models import Invoice, Payment, PaymentMethod

ClientFor = Callable[[Any], APIClient]
Issue = Callable[..., Invoice]
Card = Callable[[Any, str], None]
ME = "/api/v1/billing/me/payment-method/"
PAYMENTS = "/api/v1/billing/payments/"


def test_rider_sets_and_reads_their_card(client_for: ClientFor, rider: Any) -> None:
    client = client_for(rider)
    assert client.get(ME).status_code == 404
    response = client.put(ME, {"card_token": "tok_visa"})
    assert response.status_code == 200
    assert (response.data["brand"], response.data["last4"]) == ("visa", "4242")
    assert "card_token" not in response.data
    assert client.get(ME).data["rider_id"] == str(rider.id)
    assert PaymentMethod.objects.get(rider_id=rider.id).card_token == "tok_visa"


@pytest.mark.parametrize("token", ["", "   ", "4242424242424242", None])
def test_bad_card_token_is_400_naming_it(client_for: ClientFor, rider: Any, token: Any) -> None:
    body = {} if token is None else {"card_token": token}
    response = client_for(rider).put(ME, body)
    assert response.status_code == 400
    assert "card_token" in response.data
    assert not PaymentMethod.objects.exists()


def test_payment_method_needs_sign_in(client_for: ClientFor) -> None:
    assert client_for(None).get(ME).status_code == 401
    assert client_for(None).put(ME, {"card_token": "tok_visa"}).status_code == 401


@pytest.fixture
def paid(rider: Any, issue: Issue, card: Card) -> Payment:
    card(rider, "tok_visa")
    return services.invoice_collect_payment(invoice_id=issue(rider).id)


def test_rider_sees_only_their_payments(
    client_for: ClientFor, rider: Any, other_rider: Any, paid: Payment, issue: Issue
) -> None:
    services.invoice_collect_payment(invoice_id=issue(other_rider).id)
    response = client_for(rider).get(PAYMENTS)
    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [str(paid.id)]
    assert response.data["results"][0]["refunded_amount"] == "0.00"
    assert client_for(other_rider).get(PAYMENTS).data["results"][0]["failure_code"] == (
        "no_payment_method"
    )


def test_staff_sees_all_payments_and_filters(
    client_for: ClientFor, staff: Any, other_rider: Any, paid: Payment, issue: Issue
) -> None:
    services.invoice_collect_payment(invoice_id=issue(other_rider).id)
    client = client_for(staff)
    assert client.get(PAYMENTS).data["count"] == 2
    failed = client.get(PAYMENTS, {"status": "failed"}).data["results"]
    assert [row["rider_id"] for row in failed] == [str(other_rider.id)]
    by_invoice = client.get(PAYMENTS, {"invoice_id": str(paid.invoice_id)}).data["results"]
    assert [row["id"] for row in by_invoice] == [str(paid.id)]
    response = client.get(PAYMENTS, {"status": "maybe"})
    assert response.status_code == 400
    assert "status" in response.data


def test_payments_need_sign_in(client_for: ClientFor) -> None:
    assert client_for(None).get(PAYMENTS).status_code == 401


def test_staff_refunds_partially_then_fully(
    client_for: ClientFor, staff: Any, paid: Payment
) -> None:
    client = client_for(staff)
    url = f"{PAYMENTS}{paid.id}/refunds/"
    response = client.post(url, {"amount": "5.00", "reason": "Detour"})
    assert response.status_code == 201, response.data
    assert response.data["invoice_status"] == "partially_refunded"
    assert response.data["created_by_id"] == str(staff.id)
    response = client.post(url, {"amount": "12.50", "reason": "Complaint"})
    assert response.status_code == 201
    assert response.data["invoice_status"] == "refunded"

    listed = client.get(PAYMENTS).data["results"][0]
    assert listed["refunded_amount"] == "17.50"
    assert [refund["amount"] for refund in listed["refunds"]] == ["5.00", "12.50"]


def test_refund_beyond_what_is_left_is_409(
    client_for: ClientFor, staff: Any, paid: Payment
) -> None:
    response = client_for(staff).post(
        f"{PAYMENTS}{paid.id}/refunds/", {"amount": "17.51", "reason": "Too much"}
    )
    assert response.status_code == 409
    assert response.data["code"] == "refund_exceeds_payment"
    assert "amount" in response.data
    assert not paid.refunds.exists()


def test_refund_of_a_failed_payment_is_409(
    client_for: ClientFor, staff: Any, rider: Any, issue: Issue
) -> None:
    failed = services.invoice_collect_payment(invoice_id=issue(rider).id)
    response = client_for(staff).post(
        f"{PAYMENTS}{failed.id}/refunds/", {"amount": "1.00", "reason": "x"}
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "0", "reason": "x"}, "amount"),
        ({"amount": "abc", "reason": "x"}, "amount"),
        ({"amount": 1e40, "reason": "x"}, "amount"),
        ({"amount": "1e40", "reason": "x"}, "amount"),
        ({"amount": 99999999999999, "reason": "x"}, "amount"),
        ({"amount": "NaN", "reason": "x"}, "amount"),
        ({"amount": "Infinity", "reason": "x"}, "amount"),
        ({"reason": "x"}, "amount"),
        ({"amount": "1.00", "reason": ""}, "reason"),
        ({"amount": "1.00"}, "reason"),
    ],
)
def test_refund_validation_names_the_field(
    client_for: ClientFor, staff: Any, paid: Payment, body: dict[str, Any], field: str
) -> None:
    response = client_for(staff).post(f"{PAYMENTS}{paid.id}/refunds/", body, format="json")
    assert response.status_code == 400
    assert field in response.data
    assert not paid.refunds.exists()


def test_refunds_are_staff_only(
    client_for: ClientFor, rider: Any, staff: Any, paid: Payment
) -> None:
    url = f"{PAYMENTS}{paid.id}/refunds/"
    body = {"amount": "1.00", "reason": "x"}
    assert client_for(None).post(url, body).status_code == 401
    assert client_for(rider).post(url, body).status_code == 403
    assert client_for(staff).post(f"{PAYMENTS}{uuid.uuid4()}/refunds/", body).status_code == 404
    assert not paid.refunds.exists()


def test_payment_list_runs_the_same_queries_at_any_page_size(
    client_for: ClientFor,
    staff: Any,
    rider: Any,
    issue: Issue,
    card: Card,
    assert_num_queries_all_databases: Any,
) -> None:
    card(rider, "tok_visa")
    for _ in range(55):
        payment = services.invoice_collect_payment(invoice_id=issue(rider).id)
        services.payment_refund(payment_id=payment.id, amount=None, reason="x", by_id=staff.id)
    client = client_for(staff)
    # token and user, roles, count, page with invoices, refunds
    with assert_num_queries_all_databases(5):
        small = client.get(PAYMENTS, {"page_size": 5})
    with assert_num_queries_all_databases(5):
        large = client.get(PAYMENTS, {"page_size": 50})
    assert len(small.data["results"]) == 5
    assert len(large.data["results"]) == 50
    assert all(row["refunded_amount"] == "17.50" for row in large.data["results"])
