"""The billing admin: tariffs through services, read-only money records, actions."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connections, router
from django.test import Client
from django.test.utils import CaptureQueriesContext

from modules.billing import services
from modules.billing.models import Invoice, Payment, PaymentMethod, Refund, Tariff

Issue = Callable[..., Invoice]
Card = Callable[[Any, str], None]
ADMIN = "/admin/billing"


@pytest.fixture
def admin_client(superuser: Any) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _tariff_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "Weekend",
        "base_fare": "3.00",
        "per_km": "1.40",
        "per_minute": "0.35",
        "minimum_fare": "6.00",
        "effective_from_0": "2030-01-01",
        "effective_from_1": "00:00:00",
        "effective_to_0": "",
        "effective_to_1": "",
    }
    form.update(overrides)
    return form


def test_staff_adds_a_tariff_through_the_service(admin_client: Client) -> None:
    response = admin_client.post(f"{ADMIN}/tariff/add/", _tariff_form(), follow=True)
    assert response.status_code == 200
    tariff = Tariff.objects.get(name="Weekend")
    assert tariff.currency == "EUR"
    assert tariff.effective_from == datetime(2030, 1, 1, tzinfo=UTC)
    assert response.redirect_chain[-1][0].endswith("/admin/billing/tariff/")


def test_admin_refuses_an_overlapping_tariff(admin_client: Client, tariff: Tariff) -> None:
    response = admin_client.post(f"{ADMIN}/tariff/add/", _tariff_form())
    assert response.status_code == 200
    assert "effective_from" in response.context["adminform"].form.errors
    assert Tariff.objects.count() == 1


def test_admin_refuses_repricing_an_invoiced_tariff(
    admin_client: Client, tariff: Tariff, rider: Any, issue: Issue
) -> None:
    issue(rider)
    form = _tariff_form(
        name="Standard",
        base_fare="9.00",
        per_km="1.20",
        per_minute="0.30",
        minimum_fare="5.00",
        effective_from_0="2020-01-01",
    )
    response = admin_client.post(f"{ADMIN}/tariff/{tariff.id}/change/", form)
    assert response.status_code == 200
    assert "base_fare" in response.context["adminform"].form.errors
    tariff.refresh_from_db()
    assert tariff.base_fare == Decimal("2.50")


def test_admin_renames_a_tariff(admin_client: Client, tariff: Tariff) -> None:
    form = _tariff_form(
        name="Standard 2020",
        base_fare="2.50",
        per_km="1.20",
        per_minute="0.30",
        minimum_fare="5.00",
        effective_from_0="2020-01-01",
    )
    response = admin_client.post(f"{ADMIN}/tariff/{tariff.id}/change/", form)
    assert response.status_code == 302
    tariff.refresh_from_db()
    assert tariff.name == "Standard 2020"


def test_lists_and_searches_load(
    admin_client: Client, rider: Any, issue: Issue, card: Card, tariff: Tariff
) -> None:
    card(rider, "tok_visa")
    invoice = issue(rider)
    services.invoice_collect_payment(invoice_id=invoice.id)
    for path in [
        "tariff/?q=Standard",
        f"invoice/?q={invoice.number}",
        f"invoice/?q={invoice.trip_id}",
        "invoice/?status__exact=paid",
        "payment/",
        "refund/",
        "paymentmethod/",
        "sandboxcharge/",
        "sandboxrefund/",
        "creditpurchase/",
        "creditpurchase/?status__exact=succeeded",
    ]:
        response = admin_client.get(f"{ADMIN}/{path}")
        assert response.status_code == 200, path
    response = admin_client.get(f"{ADMIN}/invoice/?q={invoice.trip_id}")
    assert invoice.number in response.content.decode()


def test_invoices_and_payments_are_read_only(
    admin_client: Client, rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_visa")
    invoice = issue(rider)
    payment = services.invoice_collect_payment(invoice_id=invoice.id)
    page = admin_client.get(f"{ADMIN}/invoice/{invoice.id}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "Base fare" in page.content.decode()
    assert admin_client.get(f"{ADMIN}/invoice/add/").status_code == 403
    assert admin_client.get(f"{ADMIN}/invoice/{invoice.id}/delete/").status_code == 403
    assert (
        admin_client.post(f"{ADMIN}/invoice/{invoice.id}/change/", {"total": "0"}).status_code
        == 403
    )
    assert admin_client.get(f"{ADMIN}/payment/add/").status_code == 403
    assert admin_client.get(f"{ADMIN}/payment/{payment.id}/delete/").status_code == 403
    assert admin_client.get(f"{ADMIN}/sandboxcharge/add/").status_code == 403
    invoice.refresh_from_db()
    assert invoice.total == Decimal("17.50")


def test_retry_payment_action(
    admin_client: Client, rider: Any, other_rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_chargeDeclined")
    failing = issue(rider)
    services.invoice_collect_payment(invoice_id=failing.id)
    card(rider, "tok_visa")
    card(other_rider, "tok_visa")
    already_paid = issue(other_rider)
    services.invoice_collect_payment(invoice_id=already_paid.id)

    response = admin_client.post(
        f"{ADMIN}/invoice/",
        {"action": "retry_payment", "_selected_action": [str(failing.id), str(already_paid.id)]},
        follow=True,
    )
    assert response.status_code == 200
    shown = _messages(response)
    assert f"Paid: {failing.number}." in shown
    assert any(m.startswith(f"Not retried: {already_paid.number}") for m in shown)
    failing.refresh_from_db()
    assert failing.status == Invoice.Status.PAID
    assert failing.payments.count() == 2


def test_retry_payment_reports_declines(
    admin_client: Client, rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_expiredCard")
    invoice = issue(rider)
    response = admin_client.post(
        f"{ADMIN}/invoice/",
        {"action": "retry_payment", "_selected_action": [str(invoice.id)]},
        follow=True,
    )
    assert f"Payment failed: {invoice.number} (expired_card)." in _messages(response)


def test_void_action_spares_paid_invoices(
    admin_client: Client, rider: Any, issue: Issue, card: Card
) -> None:
    unpaid = issue(rider)
    card(rider, "tok_visa")
    paid = issue(rider)
    services.invoice_collect_payment(invoice_id=paid.id)
    response = admin_client.post(
        f"{ADMIN}/invoice/",
        {"action": "void", "_selected_action": [str(unpaid.id), str(paid.id)]},
        follow=True,
    )
    shown = _messages(response)
    assert f"Voided: {unpaid.number}." in shown
    assert any(m.startswith(f"Not voided: {paid.number}") for m in shown)
    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert (unpaid.status, paid.status) == (Invoice.Status.VOID, Invoice.Status.PAID)


def test_refund_in_full_action(
    admin_client: Client, superuser: Any, rider: Any, issue: Issue, card: Card
) -> None:
    card(rider, "tok_visa")
    payment = services.invoice_collect_payment(invoice_id=issue(rider).id)
    services.payment_refund(payment_id=payment.id, amount=Decimal("2.50"), reason="x", by_id=None)

    response = admin_client.post(
        f"{ADMIN}/payment/",
        {"action": "refund_in_full", "_selected_action": [str(payment.id)]},
        follow=True,
    )
    assert any(m.startswith("Refunded:") and "15.00 EUR" in m for m in _messages(response))
    refund = Refund.objects.get(payment=payment, amount=Decimal("15.00"))
    assert refund.created_by_id == superuser.id
    payment.invoice.refresh_from_db()
    assert payment.invoice.status == Invoice.Status.REFUNDED

    response = admin_client.post(
        f"{ADMIN}/payment/",
        {"action": "refund_in_full", "_selected_action": [str(payment.id)]},
        follow=True,
    )
    assert any(m.startswith("Not refunded:") for m in _messages(response))
    assert payment.refunds.count() == 2


def test_actions_need_their_permission(
    make_user: Callable[..., Any], rider: Any, issue: Issue, card: Card
) -> None:
    """An admin account without the action's permission cannot run it.

    Not a fleet-staff member: that role holds every billing permission but delete.
    """
    viewer = make_user("viewer-vic", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="billing",
            codename__in=["view_invoice", "view_payment", "view_creditpurchase"],
        )
    )
    client = Client()
    client.force_login(viewer)
    invoice = issue(rider)
    page = client.get(f"{ADMIN}/invoice/").content.decode()
    assert "retry_payment" not in page
    client.post(f"{ADMIN}/invoice/", {"action": "void", "_selected_action": [str(invoice.id)]})
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED

    assert "refund_in_full" not in client.get(f"{ADMIN}/payment/").content.decode()
    assert 'value="settle"' not in client.get(f"{ADMIN}/creditpurchase/").content.decode()

    viewer.user_permissions.add(Permission.objects.get(codename="operate_invoice"))
    client.force_login(viewer)
    assert "retry_payment" in client.get(f"{ADMIN}/invoice/").content.decode()
    assert "refund_in_full" not in client.get(f"{ADMIN}/payment/").content.decode()


def test_fleet_staff_may_run_the_actions(staff: Any) -> None:
    """The fleet-staff role carries billing's own permissions (see monolith.platform.roles)."""
    assert staff.has_perm("billing.operate_invoice")
    assert staff.has_perm("billing.refund_payment")
    assert staff.has_perm("billing.settle_creditpurchase")
    assert not staff.has_perm("billing.delete_invoice")


def test_payment_method_admin_uses_the_service(admin_client: Client, rider: Any) -> None:
    response = admin_client.post(
        f"{ADMIN}/paymentmethod/add/",
        {"rider_id": str(rider.id), "card_token": "tok_mastercard"},
    )
    assert response.status_code == 302
    method = PaymentMethod.objects.get(rider_id=rider.id)
    assert (method.brand, method.last4) == ("mastercard", "4444")

    response = admin_client.post(
        f"{ADMIN}/paymentmethod/{method.id}/change/", {"card_token": "5555555555554444"}
    )
    assert response.status_code == 200
    assert "card_token" in response.context["adminform"].form.errors
    method.refresh_from_db()
    assert method.card_token == "tok_mastercard"


def test_payments_show_their_refunds(
    admin_client: Client, rider: Any, issue: Issue, card: Card, staff: Any
) -> None:
    card(rider, "tok_visa")
    payment = services.invoice_collect_payment(invoice_id=issue(rider).id)
    services.payment_refund(
        payment_id=payment.id, amount=Decimal("1.00"), reason="Bump", by_id=staff.id
    )
    services.payment_refund(
        payment_id=payment.id, amount=Decimal("2.00"), reason="Auto", by_id=None
    )
    page = admin_client.get(f"{ADMIN}/payment/{payment.id}/change/")
    assert page.status_code == 200
    assert "Bump" in page.content.decode()
    # Who refunded is an account id; the page names the account.
    assert "<p>staff-sam</p>" in page.content.decode()
    assert "<p>—</p>" in page.content.decode()
    assert Payment.objects.count() == 1


def test_refund_list_names_who_refunded_with_one_account_lookup(
    admin_client: Client, rider: Any, issue: Issue, card: Card, make_user: Callable[..., Any]
) -> None:
    card(rider, "tok_visa")
    people = [make_user(f"staff-{n}", is_staff=True) for n in range(3)]
    for person in people:
        payment = services.invoice_collect_payment(invoice_id=issue(rider).id)
        services.payment_refund(
            payment_id=payment.id, amount=Decimal("1.00"), reason="x", by_id=person.id
        )
    with CaptureQueriesContext(connections[router.db_for_read(get_user_model())]) as queries:
        page = admin_client.get(f"{ADMIN}/refund/")
    assert page.status_code == 200
    html = page.content.decode()
    for person in people:
        assert f'<td class="field-created_by">{person.username}</td>' in html
    assert sum('"accounts_user"."id" IN (' in query["sql"] for query in queries) == 1
    refund = Refund.objects.get(created_by_id=people[0].id)
    detail = admin_client.get(f"{ADMIN}/refund/{refund.id}/change/").content.decode()
    assert "staff-0" in detail
