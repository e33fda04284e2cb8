"""REST: invoices and paying them — riders see their own, staff see all."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from modules.billing import services
from modules.billing.models import Invoice, SandboxCharge

ClientFor = Callable[[Any], APIClient]
Issue = Callable[..., Invoice]
Card = Callable[[Any, str], None]
URL = "/api/v1/billing/invoices/"


def test_rider_lists_only_their_own_invoices(
    client_for: ClientFor, rider: Any, other_rider: Any, issue: Issue
) -> None:
    mine = issue(rider)
    issue(other_rider)
    response = client_for(rider).get(URL)
    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [str(mine.id)]
    row = response.data["results"][0]
    assert row["total"] == "17.50"
    assert row["status"] == "issued"
    assert [line["kind"] for line in row["lines"]] == ["base", "distance", "time"]
    # Asking for someone else's invoices still shows only one's own.
    response = client_for(rider).get(URL, {"rider_id": str(other_rider.id)})
    assert response.data["count"] == 0


def test_staff_lists_all_and_filters(
    client_for: ClientFor, staff: Any, rider: Any, other_rider: Any, issue: Issue, card: Card
) -> None:
    first = issue(rider)
    second = issue(other_rider)
    card(rider, "tok_visa")
    services.invoice_collect_payment(invoice_id=first.id)
    client = client_for(staff)
    assert client.get(URL).data["count"] == 2
    assert [r["id"] for r in client.get(URL, {"status": "paid"}).data["results"]] == [str(first.id)]
    by_rider = client.get(URL, {"rider_id": str(other_rider.id)}).data["results"]
    assert [r["id"] for r in by_rider] == [str(second.id)]
    by_trip = client.get(URL, {"trip_id": str(first.trip_id)}).data["results"]
    assert [r["id"] for r in by_trip] == [str(first.id)]
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert client.get(URL, {"issued_after": later}).data["count"] == 0
    assert client.get(URL, {"issued_before": later}).data["count"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"issued_after": "yesterday"}, "issued_after"),
        ({"rider_id": "nobody"}, "rider_id"),
    ],
)
def test_bad_filters_are_400_naming_the_field(
    client_for: ClientFor, staff: Any, params: dict[str, str], field: str
) -> None:
    response = client_for(staff).get(URL, params)
    assert response.status_code == 400
    assert field in response.data


def test_anonymous_gets_401(client_for: ClientFor, rider: Any, issue: Issue) -> None:
    invoice = issue(rider)
    anonymous = client_for(None)
    assert anonymous.get(URL).status_code == 401
    assert anonymous.get(f"{URL}{invoice.id}/").status_code == 401
    assert anonymous.post(f"{URL}{invoice.id}/pay/").status_code == 401


def test_invoice_detail_own_other_and_staff(
    client_for: ClientFor, rider: Any, other_rider: Any, staff: Any, issue: Issue
) -> None:
    invoice = issue(rider)
    response = client_for(rider).get(f"{URL}{invoice.id}/")
    assert response.status_code == 200
    assert response.data["number"] == invoice.number
    assert response.data["lines"][1]["quantity"] == "10.000"
    assert client_for(other_rider).get(f"{URL}{invoice.id}/").status_code == 404
    assert client_for(staff).get(f"{URL}{invoice.id}/").status_code == 200
    assert client_for(staff).get(f"{URL}{uuid.uuid4()}/").status_code == 404


def test_rider_pays_their_invoice(
    client_for: ClientFor, rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_visa")
    invoice = issue(rider)
    response = client_for(rider).post(f"{URL}{invoice.id}/pay/")
    assert response.status_code == 200, response.data
    assert response.data["status"] == "succeeded"
    assert response.data["invoice_status"] == "paid"
    assert response.data["amount"] == "17.50"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_paying_a_paid_invoice_is_409(
    client_for: ClientFor, rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_visa")
    invoice = issue(rider)
    client = client_for(rider)
    assert client.post(f"{URL}{invoice.id}/pay/").status_code == 200
    response = client.post(f"{URL}{invoice.id}/pay/")
    assert response.status_code == 409
    assert response.data["code"] == "illegal_transition"
    assert SandboxCharge.objects.count() == 1


def test_declined_payment_is_reported_and_retry_succeeds(
    client_for: ClientFor, rider: Any, staff: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_insufficientFunds")
    invoice = issue(rider)
    response = client_for(rider).post(f"{URL}{invoice.id}/pay/")
    assert response.status_code == 200
    assert response.data["status"] == "failed"
    assert response.data["failure_code"] == "insufficient_funds"
    assert response.data["invoice_status"] == "payment_failed"

    card(rider, "tok_mastercard")
    response = client_for(staff).post(f"{URL}{invoice.id}/pay/")
    assert response.status_code == 200
    assert response.data["attempt"] == 2
    assert response.data["invoice_status"] == "paid"


def test_no_payment_method_fails_the_payment(
    client_for: ClientFor, rider: Any, issue: Issue
) -> None:
    invoice = issue(rider)
    response = client_for(rider).post(f"{URL}{invoice.id}/pay/")
    assert response.status_code == 200
    assert response.data["failure_code"] == "no_payment_method"


def test_other_rider_cannot_pay_and_gets_404(
    client_for: ClientFor, rider: Any, other_rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_visa")
    card(other_rider, "tok_visa")
    invoice = issue(rider)
    assert client_for(other_rider).post(f"{URL}{invoice.id}/pay/").status_code == 404
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not invoice.payments.exists()


def test_gateway_outage_is_503(client_for: ClientFor, rider: Any, issue: Issue, card: Card) -> None:
    card(rider, "tok_processingError")
    invoice = issue(rider)
    response = client_for(rider).post(f"{URL}{invoice.id}/pay/")
    assert response.status_code == 503
    assert response.data["code"] == "payment_gateway_unavailable"
    assert response["Retry-After"] == "30"


def test_paying_a_void_invoice_is_409(
    client_for: ClientFor, staff: Any, rider: Any, issue: Issue
) -> None:
    invoice = issue(rider)
    services.invoice_void(invoice_id=invoice.id)
    assert client_for(staff).post(f"{URL}{invoice.id}/pay/").status_code == 409


def test_invoice_list_runs_the_same_queries_at_any_page_size(
    client_for: ClientFor,
    staff: Any,
    rider: Any,
    issue: Issue,
    assert_num_queries_all_databases: Any,
) -> None:
    for _ in range(60):
        issue(rider)
    client = client_for(staff)
    # token and user, roles, count, page, lines
    with assert_num_queries_all_databases(5):
        small = client.get(URL, {"page_size": 5})
    with assert_num_queries_all_databases(5):
        large = client.get(URL, {"page_size": 50})
    assert len(small.data["results"]) == 5
    assert len(large.data["results"]) == 50
    assert all(len(row["lines"]) == 3 for row in large.data["results"])
