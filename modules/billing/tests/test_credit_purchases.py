"""Buying wallet credit with the card on file: /api/v1/billing/me/credit-purchases/."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from modules.billing import services
from modules.billing.api import CardDeclined
from modules.billing.models import CreditPurchase, SandboxCharge
from modules.users import api as users_api
from monolith.platform.errors import InvalidRequest

ClientFor = Callable[[Any], APIClient]
Card = Callable[[Any, str], None]
URL = "/api/v1/billing/me/credit-purchases/"


def _available(rider: Any) -> Decimal:
    return users_api.wallet_get(rider_id=rider.id).available.amount


def _buy(client: APIClient, amount: Any = "20.00", key: str = "key-1") -> Any:
    return client.post(URL, {"amount": amount, "idempotency_key": key}, format="json")


def test_rider_buys_credit_and_the_wallet_grows(
    client_for: ClientFor, rider: Any, card: Card
) -> None:
    card(rider, "tok_visa")
    before = _available(rider)
    response = _buy(client_for(rider))
    assert response.status_code == 201, response.data
    assert set(response.data) >= {"id", "amount", "currency", "status", "created_at"}
    assert (response.data["amount"], response.data["currency"]) == ("20.00", "EUR")
    assert response.data["status"] == "succeeded"
    assert _available(rider) == before + Decimal("20.00")
    purchase = CreditPurchase.objects.get(id=response.data["id"])
    assert purchase.rider_id == rider.id
    assert purchase.credited_at is not None
    charge = SandboxCharge.objects.get(charge_id=purchase.gateway_charge_id)
    assert (charge.amount, charge.card_token) == (Decimal("20.00"), "tok_visa")


def test_the_same_key_again_returns_the_first_purchase_and_charges_nothing(
    client_for: ClientFor, rider: Any, card: Card
) -> None:
    card(rider, "tok_visa")
    client = client_for(rider)
    first = _buy(client)
    again = _buy(client)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data == first.data
    assert SandboxCharge.objects.count() == 1
    assert _available(rider) == Decimal("20.00")

    other_amount = _buy(client, amount="30.00")
    assert other_amount.status_code == 409
    assert "idempotency_key" in other_amount.data
    assert _buy(client, key="key-2").status_code == 201
    assert _available(rider) == Decimal("40.00")
    assert SandboxCharge.objects.count() == 2


@pytest.mark.parametrize(
    ("token", "code"),
    [("tok_chargeDeclined", "card_declined"), ("tok_insufficientFunds", "insufficient_funds")],
)
def test_a_declined_card_is_402_and_the_failure_recorded(
    client_for: ClientFor, rider: Any, card: Card, token: str, code: str
) -> None:
    card(rider, token)
    client = client_for(rider)
    response = _buy(client)
    assert response.status_code == 402
    assert response.data["code"] == code
    purchase = CreditPurchase.objects.get(rider_id=rider.id)
    assert (purchase.status, purchase.failure_code) == (CreditPurchase.Status.FAILED, code)
    assert _available(rider) == Decimal("0.00")

    again = _buy(client)
    assert (again.status_code, again.data["code"]) == (402, code)
    assert SandboxCharge.objects.count() == 1
    listed = client.get(URL).data["results"]
    assert [(row["status"], row["failure_code"]) for row in listed] == [("failed", code)]


def test_no_card_on_file_is_409_naming_card_token(client_for: ClientFor, rider: Any) -> None:
    response = _buy(client_for(rider))
    assert response.status_code == 409
    assert response.data["code"] == "no_payment_method"
    assert "card_token" in response.data
    assert not CreditPurchase.objects.exists()
    assert not SandboxCharge.objects.exists()


def test_a_gateway_outage_is_503_with_retry_after_and_records_nothing(
    client_for: ClientFor, rider: Any, card: Card
) -> None:
    card(rider, "tok_processingError")
    client = client_for(rider)
    response = _buy(client)
    assert response.status_code == 503
    assert response.data["code"] == "payment_gateway_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not CreditPurchase.objects.exists()

    card(rider, "tok_visa")
    assert _buy(client).status_code == 201
    assert _available(rider) == Decimal("20.00")


def test_riders_see_only_their_own_and_keys_are_per_rider(
    client_for: ClientFor, rider: Any, other_rider: Any, card: Card
) -> None:
    card(rider, "tok_visa")
    card(other_rider, "tok_mastercard")
    mine = _buy(client_for(rider))
    theirs = _buy(client_for(other_rider), amount="50.00")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.data["id"] != theirs.data["id"]
    listed = client_for(rider).get(URL).data
    assert [row["id"] for row in listed["results"]] == [mine.data["id"]]
    assert _available(rider) == Decimal("20.00")
    assert _available(other_rider) == Decimal("50.00")


def test_anonymous_gets_401(client_for: ClientFor, db: Any) -> None:
    anonymous = client_for(None)
    assert anonymous.get(URL).status_code == 401
    assert _buy(anonymous).status_code == 401
    assert not CreditPurchase.objects.exists()


def test_an_account_without_a_wallet_is_never_charged(
    client_for: ClientFor, staff: Any, card: Card
) -> None:
    card(staff, "tok_visa")
    response = _buy(client_for(staff))
    assert response.status_code == 404
    assert response.data["code"] == "rider_not_found"
    assert not SandboxCharge.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "4.99", "idempotency_key": "k"}, "amount"),
        ({"amount": "500.01", "idempotency_key": "k"}, "amount"),
        ({"amount": "0", "idempotency_key": "k"}, "amount"),
        ({"amount": "-20.00", "idempotency_key": "k"}, "amount"),
        ({"amount": "20.001", "idempotency_key": "k"}, "amount"),
        ({"amount": "twenty", "idempotency_key": "k"}, "amount"),
        ({"amount": "NaN", "idempotency_key": "k"}, "amount"),
        ({"amount": "Infinity", "idempotency_key": "k"}, "amount"),
        ({"amount": 1e40, "idempotency_key": "k"}, "amount"),
        ({"amount": 99999999999999, "idempotency_key": "k"}, "amount"),
        ({"idempotency_key": "k"}, "amount"),
        ({"amount": "20.00"}, "idempotency_key"),
        ({"amount": "20.00", "idempotency_key": ""}, "idempotency_key"),
        ({"amount": "20.00", "idempotency_key": "k" * 101}, "idempotency_key"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    client_for: ClientFor, rider: Any, card: Card, body: dict[str, Any], field: str
) -> None:
    card(rider, "tok_visa")
    response = client_for(rider).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.data
    assert not SandboxCharge.objects.exists()


def test_the_limits_are_inclusive(client_for: ClientFor, rider: Any, card: Card) -> None:
    card(rider, "tok_visa")
    client = client_for(rider)
    assert _buy(client, amount="5.00", key="low").status_code == 201
    assert _buy(client, amount="500.00", key="high").status_code == 201
    assert _available(rider) == Decimal("505.00")


@pytest.mark.parametrize(
    ("amount", "key", "field"),
    [
        (Decimal("4.99"), "k", "amount"),
        (Decimal("500.01"), "k", "amount"),
        (Decimal("1E+40"), "k", "amount"),
        (Decimal("NaN"), "k", "amount"),
        (Decimal("20.00"), "  ", "idempotency_key"),
    ],
)
def test_the_service_refuses_what_the_api_refuses(
    rider: Any, card: Card, amount: Decimal, key: str, field: str
) -> None:
    card(rider, "tok_visa")
    with pytest.raises(InvalidRequest) as caught:
        services.credit_purchase_create(rider_id=rider.id, amount=amount, idempotency_key=key)
    assert caught.value.field == field


def test_a_charge_whose_crediting_failed_is_credited_once_on_retry(
    rider: Any, card: Card, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The charge is kept with its purchase; the same key later credits it, exactly once."""
    card(rider, "tok_visa")

    def wallet_down(**_: Any) -> None:
        raise RuntimeError("the wallet is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(users_api, "credit_top_up", wallet_down)
        with pytest.raises(RuntimeError):
            services.credit_purchase_create(
                rider_id=rider.id, amount=Decimal("25.00"), idempotency_key="k"
            )
    purchase = CreditPurchase.objects.get()
    assert purchase.status == CreditPurchase.Status.CHARGED
    assert SandboxCharge.objects.count() == 1
    assert _available(rider) == Decimal("0.00")

    again, created = services.credit_purchase_create(
        rider_id=rider.id, amount=Decimal("25.00"), idempotency_key="k"
    )
    assert (again.id, again.status, created) == (purchase.id, "succeeded", False)
    services.credit_purchase_create(rider_id=rider.id, amount=Decimal("25.00"), idempotency_key="k")
    assert _available(rider) == Decimal("25.00")
    assert SandboxCharge.objects.count() == 1


def test_settling_twice_credits_once(
    rider: Any, card: Card, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settle that credited the wallet but died before recording it is repeated safely."""
    card(rider, "tok_visa")
    with monkeypatch.context() as patched:
        patched.setattr(
            services, "_credit_purchase_mark_credited", lambda **_: CreditPurchase.objects.get()
        )
        purchase, _ = services.credit_purchase_create(
            rider_id=rider.id, amount=Decimal("10.00"), idempotency_key="k"
        )
    assert purchase.status == CreditPurchase.Status.CHARGED
    assert _available(rider) == Decimal("10.00")
    settled = services.credit_purchase_settle(purchase_id=purchase.id)
    assert settled.status == CreditPurchase.Status.SUCCEEDED
    assert _available(rider) == Decimal("10.00")


def test_decline_raises_card_declined_with_the_gateway_code(rider: Any, card: Card) -> None:
    card(rider, "tok_expiredCard")
    with pytest.raises(CardDeclined) as caught:
        services.credit_purchase_create(
            rider_id=rider.id, amount=Decimal("10.00"), idempotency_key="k"
        )
    assert (caught.value.status, caught.value.code) == (402, "expired_card")


def test_list_runs_the_same_queries_at_any_page_size(
    client_for: ClientFor, rider: Any, assert_num_queries_all_databases: Any
) -> None:
    CreditPurchase.objects.bulk_create(
        CreditPurchase(
            rider_id=rider.id,
            amount=Decimal("10.00"),
            currency="EUR",
            status=CreditPurchase.Status.SUCCEEDED,
            idempotency_key=f"k-{n}",
        )
        for n in range(60)
    )
    client = client_for(rider)
    # token and user, count, page
    with assert_num_queries_all_databases(3):
        small = client.get(URL, {"page_size": 5})
    with assert_num_queries_all_databases(3):
        large = client.get(URL, {"page_size": 50})
    assert (len(small.data["results"]), len(large.data["results"])) == (5, 50)
    assert small.data["count"] == 60


# Admin --------------------------------------------------------------------------------------


def _charged_purchase(rider: Any) -> CreditPurchase:
    """A purchase whose card was charged but whose wallet was not credited."""
    return CreditPurchase.objects.create(
        rider_id=rider.id,
        amount=Decimal("15.00"),
        currency="EUR",
        status=CreditPurchase.Status.CHARGED,
        gateway_charge_id="ch_sandbox_x",
        idempotency_key="stuck",
    )


def test_admin_settle_action_credits_charged_purchases(
    superuser: Any, rider: Any, card: Card
) -> None:
    stuck = _charged_purchase(rider)
    card(rider, "tok_visa")
    done, _ = services.credit_purchase_create(
        rider_id=rider.id, amount=Decimal("5.00"), idempotency_key="done"
    )
    client = Client()
    client.force_login(superuser)
    response = client.post(
        "/admin/billing/creditpurchase/",
        {"action": "settle", "_selected_action": [str(stuck.id), str(done.id)]},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    assert f"Credited: {stuck.id} (15.00 EUR)." in shown
    assert f"Nothing to credit: {done.id} (succeeded)." in shown
    stuck.refresh_from_db()
    assert stuck.status == CreditPurchase.Status.SUCCEEDED
    assert _available(rider) == Decimal("20.00")


def test_credit_purchases_are_read_only_in_the_admin(superuser: Any, rider: Any) -> None:
    purchase = _charged_purchase(rider)
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/billing/creditpurchase/{purchase.id}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.get("/admin/billing/creditpurchase/add/").status_code == 403
    assert client.get(f"/admin/billing/creditpurchase/{purchase.id}/delete/").status_code == 403
    assert client.get(f"/admin/billing/creditpurchase/?q={rider.id}").status_code == 200


def test_settle_needs_its_permission(make_user: Callable[..., Any], rider: Any) -> None:
    purchase = _charged_purchase(rider)
    viewer = make_user("viewer-val", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_creditpurchase"))
    client = Client()
    client.force_login(viewer)
    client.post(
        "/admin/billing/creditpurchase/",
        {"action": "settle", "_selected_action": [str(purchase.id)]},
    )
    purchase.refresh_from_db()
    assert purchase.status == CreditPurchase.Status.CHARGED
    assert _available(rider) == Decimal("0.00")
