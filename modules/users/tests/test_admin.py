"""The users admin: profiles editable, money read-only and moved only through service actions."""

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connections, router
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from modules.users import services
from modules.users.models import CreditHold, LedgerEntry, Rider, StaffProfile, Wallet
from monolith.platform.access import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for_staff(make_user: Any) -> tuple[Client, Any]:
    """A Django test client signed in as a fleet staff superuser."""
    user = make_user("admin-ada", Role.FLEET_STAFF, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def held(funded_rider: Any) -> CreditHold:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    return hold


def post_action(client: Client, model: str, action: str, ids: list[Any]) -> Any:
    return client.post(
        reverse(f"admin:users_{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in ids]},
        follow=True,
    )


def test_changelists_and_change_views_render(
    admin_client_for_staff: tuple[Client, Any], held: CreditHold, funded_rider: Any
) -> None:
    client, _ = admin_client_for_staff
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    entry = LedgerEntry.objects.filter(wallet=wallet).first()
    assert entry is not None
    for model in ("rider", "wallet", "credithold", "ledgerentry", "staffprofile"):
        response = client.get(reverse(f"admin:users_{model}_changelist"), {"q": "rider"})
        assert response.status_code == 200, model
    for model, pk in (
        ("rider", funded_rider.id),
        ("wallet", wallet.pk),
        ("credithold", held.pk),
        ("ledgerentry", entry.pk),
    ):
        response = client.get(reverse(f"admin:users_{model}_change", args=[pk]))
        assert response.status_code == 200, model
    wallet_page = client.get(reverse("admin:users_wallet_change", args=[wallet.pk]))
    assert b"trip-1" in wallet_page.content  # the hold and its ledger entry are shown inline
    rider_list = client.get(reverse("admin:users_rider_changelist"))
    assert b"70.00 EUR" in rider_list.content
    assert b"grant_goodwill_credit" in rider_list.content
    wallet_list = client.get(reverse("admin:users_wallet_changelist"))
    assert b"grant_goodwill_credit" in wallet_list.content


def test_grant_goodwill_on_riders_writes_adjustments_by_the_admin_user(
    admin_client_for_staff: tuple[Client, Any], funded_rider: Any, other_rider: Any
) -> None:
    client, admin_user = admin_client_for_staff
    services.rider_provision(user_id=other_rider.id)

    response = post_action(
        client, "rider", "grant_goodwill_credit", [funded_rider.id, other_rider.id]
    )

    assert response.status_code == 200
    assert "Granted 10.00 goodwill credit to 2 rider(s)." in response.content.decode()
    assert Wallet.objects.get(rider_id=funded_rider.id).available == Decimal("110.00")
    assert Wallet.objects.get(rider_id=other_rider.id).available == Decimal("10.00")
    entries = LedgerEntry.objects.filter(kind="adjustment")
    assert entries.count() == 2
    assert {entry.created_by_id for entry in entries} == {admin_user.id}


def test_grant_goodwill_on_wallets(
    admin_client_for_staff: tuple[Client, Any], funded_rider: Any
) -> None:
    client, _ = admin_client_for_staff
    wallet = Wallet.objects.get(rider_id=funded_rider.id)

    post_action(client, "wallet", "grant_goodwill_credit", [wallet.pk])

    wallet.refresh_from_db()
    assert wallet.available == Decimal("110.00")
    assert wallet.entries.filter(kind="adjustment", amount=Decimal("10.00")).count() == 1


def test_release_holds_action_releases_through_the_service(
    admin_client_for_staff: tuple[Client, Any], held: CreditHold, funded_rider: Any
) -> None:
    client, _ = admin_client_for_staff
    captured, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("5.00"), reference="trip-2"
    )
    services.credit_hold_capture(hold_id=captured.id)

    response = post_action(client, "credithold", "release_holds", [held.pk, captured.pk])

    content = response.content.decode()
    assert "Released 1 hold(s)." in content
    assert "Not released" in content
    assert "captured" in content
    held.refresh_from_db()
    assert held.status == CreditHold.Status.RELEASED
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    assert (wallet.available, wallet.held) == (Decimal("95.00"), Decimal("0.00"))
    assert LedgerEntry.objects.filter(kind="release", hold=held).count() == 1

    again = post_action(client, "credithold", "release_holds", [held.pk])
    assert "1 hold(s) were already released." in again.content.decode()
    assert LedgerEntry.objects.filter(kind="release", hold=held).count() == 1


def test_credit_actions_need_fleet_staff(make_user: Any, funded_rider: Any) -> None:
    """Staff who may view wallets but are not fleet staff do not get the credit actions."""
    viewer = make_user("viewer-vic", Role.MIGRATION_TEAM, is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_wallet", "view_rider"])
    )
    client = Client()
    client.force_login(viewer)
    wallet = Wallet.objects.get(rider_id=funded_rider.id)

    changelist = client.get(reverse("admin:users_wallet_changelist"))
    assert changelist.status_code == 200
    assert b"grant_goodwill_credit" not in changelist.content

    response = post_action(client, "wallet", "grant_goodwill_credit", [wallet.pk])

    assert response.status_code == 200
    wallet.refresh_from_db()
    assert wallet.available == Decimal("100.00")


def test_ledger_entries_are_read_only_in_the_admin(
    admin_client_for_staff: tuple[Client, Any], funded_rider: Any
) -> None:
    client, _ = admin_client_for_staff
    entry = LedgerEntry.objects.get(wallet__rider_id=funded_rider.id)
    change_url = reverse("admin:users_ledgerentry_change", args=[entry.pk])

    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="amount"' not in page.content  # shown, not editable
    assert b'name="_save"' not in page.content

    assert client.post(change_url, {"amount": "999.00", "memo": "edited"}).status_code == 403
    delete_url = reverse("admin:users_ledgerentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:users_ledgerentry_add")).status_code == 403
    entry.refresh_from_db()
    assert (entry.amount, entry.memo) == (Decimal("100.00"), "")


def test_wallets_and_holds_are_read_only_in_the_admin(
    admin_client_for_staff: tuple[Client, Any], held: CreditHold, funded_rider: Any
) -> None:
    client, _ = admin_client_for_staff
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    response = client.post(
        reverse("admin:users_wallet_change", args=[wallet.pk]), {"available": "1000.00"}
    )
    assert response.status_code == 403
    response = client.post(
        reverse("admin:users_credithold_change", args=[held.pk]), {"status": "released"}
    )
    assert response.status_code == 403
    assert client.get(reverse("admin:users_wallet_add")).status_code == 403
    wallet.refresh_from_db()
    held.refresh_from_db()
    assert wallet.available == Decimal("70.00")
    assert held.status == CreditHold.Status.HELD


def test_rider_profile_is_editable_in_the_admin(
    admin_client_for_staff: tuple[Client, Any], registered_rider: Rider
) -> None:
    client, _ = admin_client_for_staff
    response = client.post(
        reverse("admin:users_rider_change", args=[registered_rider.pk]),
        {
            "display_name": "Carla M.",
            "phone": "+33612345678",
            "preferred_language": "fr",
            "home_city": "Paris",
            "notify_by_email": "on",
        },
    )
    assert response.status_code == 302, response.content
    registered_rider.refresh_from_db()
    assert (registered_rider.display_name, registered_rider.home_city) == ("Carla M.", "Paris")
    assert registered_rider.notify_by_push is False


def test_staff_profile_admin_adds_a_profile(
    admin_client_for_staff: tuple[Client, Any], staff: Any
) -> None:
    client, _ = admin_client_for_staff
    response = client.post(
        reverse("admin:users_staffprofile_add"),
        {
            "username": staff.username,
            "employee_number": "E-100",
            "depot": "North",
            "job_title": "Ops",
        },
    )
    assert response.status_code == 302, response.content
    profile = StaffProfile.objects.get(pk=staff.id)
    assert (profile.employee_number, profile.depot) == ("E-100", "North")


def test_rider_list_shows_and_searches_accounts_with_one_lookup_per_page(
    admin_client_for_staff: tuple[Client, Any], make_user: Any
) -> None:
    """Accounts may be in another database: read once per page, searched by id."""
    client, _ = admin_client_for_staff
    for name in ("hugo", "ines", "jana"):
        services.rider_register(
            username=name,
            email=f"{name}@mail.test",
            password="a-Long-and-Unusual-passphrase-42",
            display_name=name.title(),
        )
    get_user_model().objects.filter(username="jana").update(is_active=False)
    url = reverse("admin:users_rider_changelist")

    with CaptureQueriesContext(connections[router.db_for_read(get_user_model())]) as queries:
        page = client.get(url)
    html = page.content.decode()
    for name in ("hugo", "ines", "jana"):
        assert f'<td class="field-username">{name}</td>' in html
        assert f'<td class="field-email">{name}@mail.test</td>' in html
    assert sum('"accounts_user"."id" IN (' in query["sql"] for query in queries) == 1

    def shown(**params: str) -> list[str]:
        response = client.get(url, params)
        assert response.status_code == 200
        return sorted(rider.display_name for rider in response.context["cl"].result_list)

    assert shown(q="INES") == ["Ines"]
    assert shown(q="hugo@mail") == ["Hugo"]
    assert shown(q="Jan") == ["Jana"]  # the display name, as before
    assert shown(active="no") == ["Jana"]
    assert shown(active="yes") == ["Hugo", "Ines"]
    rider = Rider.objects.get(display_name="Hugo")
    detail = client.get(reverse("admin:users_rider_change", args=[rider.pk])).content.decode()
    assert reverse("admin:accounts_user_change", args=[rider.pk]) in detail


def test_ledger_names_who_adjusted(
    admin_client_for_staff: tuple[Client, Any], funded_rider: Any
) -> None:
    client, admin_user = admin_client_for_staff
    services.wallet_adjust(
        rider_id=funded_rider.id, amount=Decimal("1.00"), memo="sorry", created_by=admin_user
    )
    page = client.get(reverse("admin:users_ledgerentry_changelist")).content.decode()
    assert '<td class="field-created_by">admin-ada</td>' in page
    assert '<td class="field-created_by">—</td>' in page  # the top-up: nobody in person
    assert (
        "admin-ada"
        in client.get(
            reverse("admin:users_ledgerentry_changelist"), {"q": "rider-ann"}
        ).content.decode()
    )
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    wallet_page = client.get(reverse("admin:users_wallet_change", args=[wallet.pk]))
    assert "<p>admin-ada</p>" in wallet_page.content.decode()


def test_staff_profile_admin_names_the_account_by_username(
    admin_client_for_staff: tuple[Client, Any], staff: Any
) -> None:
    client, _ = admin_client_for_staff
    form = {"employee_number": "E-7", "depot": "", "job_title": ""}
    unknown = client.post(reverse("admin:users_staffprofile_add"), {**form, "username": "nobody"})
    assert unknown.status_code == 200
    assert "No account has this username." in unknown.content.decode()

    client.post(reverse("admin:users_staffprofile_add"), {**form, "username": "STAFF-SAM"})
    assert StaffProfile.objects.get().id == staff.id
    again = client.post(
        reverse("admin:users_staffprofile_add"),
        {**form, "employee_number": "E-8", "username": "staff-sam"},
    )
    assert "already" in again.content.decode()
    listing = client.get(reverse("admin:users_staffprofile_changelist"), {"q": "staff-sam"})
    assert '<td class="field-username">staff-sam</td>' in listing.content.decode()
    change = client.get(reverse("admin:users_staffprofile_change", args=[staff.id]))
    assert reverse("admin:accounts_user_change", args=[staff.id]) in change.content.decode()
