"""Rules of the users module's services: sign-up, profiles and the credit ledger."""

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from modules.users import services
from modules.users.errors import CreditHoldNotFound, InsufficientCredit, RiderNotFound
from modules.users.events import RiderRegistered
from modules.users.models import CreditHold, LedgerEntry, Rider, Wallet
from monolith.platform.access import Role
from monolith.platform.errors import Conflict, IllegalTransition, InvalidRequest
from monolith.platform.outbox.machinery import outbox_published
from monolith.platform.registry import module_atomic

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "a-Long-and-Unusual-passphrase-42"


def balances(rider_id: Any) -> tuple[Decimal, Decimal]:
    wallet = Wallet.objects.get(rider_id=rider_id)
    return wallet.available, wallet.held


def kinds(rider_id: Any) -> list[str]:
    return list(
        LedgerEntry.objects.filter(wallet__rider_id=rider_id)
        .order_by("sequence")
        .values_list("kind", flat=True)
    )


# Sign-up and profiles


def test_register_creates_account_role_profile_and_empty_wallet() -> None:
    rider = services.rider_register(
        username="dora", email="dora@example.com", password=STRONG_PASSWORD, display_name="D"
    )

    user = get_user_model().objects.get(username="dora")
    assert rider.id == user.id
    assert (rider.account.username, rider.account.email) == ("dora", "dora@example.com")
    assert user.check_password(STRONG_PASSWORD)
    assert list(user.groups.values_list("name", flat=True)) == [Role.RIDER.value]
    assert rider.preferred_language == "en"
    wallet = Wallet.objects.get(rider=rider)
    assert (wallet.available, wallet.held, wallet.currency) == (Decimal("0"), Decimal("0"), "EUR")
    published = outbox_published("users", RiderRegistered)
    assert [event.rider_id for event in published] == [user.id]


def test_register_refuses_taken_username_regardless_of_case(registered_rider: Rider) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.rider_register(
            username="CARLA", email="other@example.com", password=STRONG_PASSWORD, display_name="C"
        )
    assert caught.value.field == "username"


def test_register_refuses_taken_email(registered_rider: Rider) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.rider_register(
            username="carla2", email="CARLA@example.com", password=STRONG_PASSWORD, display_name="C"
        )
    assert caught.value.field == "email"


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "erin-example"])
def test_register_refuses_weak_passwords(password: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.rider_register(
            username="erin-example", email="erin@example.com", password=password, display_name="E"
        )
    assert caught.value.field == "password"
    assert not get_user_model().objects.filter(username="erin-example").exists()


def test_register_checks_the_profile_before_making_the_account() -> None:
    """Account and profile may be in two databases: a bad profile must leave no account."""
    with pytest.raises(InvalidRequest) as caught:
        services.rider_register(
            username="fay",
            email="fay@example.com",
            password=STRONG_PASSWORD,
            display_name="F" * 101,
        )
    assert caught.value.field == "display_name"
    assert not get_user_model().objects.filter(username="fay").exists()
    assert not Rider.objects.exists()


def test_a_role_holder_whose_profile_was_never_written_gets_it_on_first_use() -> None:
    """Peeled, sign-up commits the account before the profile; a crash between them heals."""
    rider = services.rider_register(
        username="gil", email="gil@example.com", password=STRONG_PASSWORD, display_name="Gil"
    )
    Wallet.objects.filter(rider=rider).delete()
    Rider.objects.filter(pk=rider.pk).delete()

    again = services.rider_provision(user_id=rider.id)

    assert (again.id, again.display_name, again.account.username) == (rider.id, "gil", "gil")
    assert Wallet.objects.filter(rider_id=rider.id).count() == 1


def test_staff_profile_needs_an_account(staff: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.staff_profile_ensure(user_id=uuid.uuid4(), employee_number="E-1")
    assert caught.value.field == "user_id"
    profile = services.staff_profile_ensure(user_id=staff.id, employee_number="E-2")
    assert profile.id == staff.id


def test_a_rider_whose_account_was_deleted_reads_as_inactive_without_a_name(rider: Any) -> None:
    """No foreign key keeps the account: the profile outlives it and says so."""
    services.rider_provision(user_id=rider.id)
    get_user_model().objects.filter(pk=rider.id).delete()
    account = Rider.objects.get(pk=rider.id).account
    assert (account.id, account.username, account.is_active) == (rider.id, "", False)


def test_provision_gives_role_holders_a_profile_and_wallet_once(rider: Any) -> None:
    first = services.rider_provision(user_id=rider.id)
    second = services.rider_provision(user_id=rider.id)
    assert first.pk == second.pk == rider.id
    assert first.display_name == rider.username
    assert Rider.objects.filter(pk=rider.id).count() == 1
    assert Wallet.objects.filter(rider_id=rider.id).count() == 1


def test_provision_refuses_accounts_without_rider_role(staff: Any) -> None:
    with pytest.raises(RiderNotFound):
        services.rider_provision(user_id=staff.id)
    assert not Rider.objects.filter(pk=staff.id).exists()


def test_rider_update_changes_only_given_fields(registered_rider: Rider) -> None:
    rider = services.rider_update(
        rider=registered_rider,
        data={"phone": "+4915112345678", "quiet_ride": True, "preferred_language": "de"},
    )
    rider.refresh_from_db()
    assert (rider.phone, rider.quiet_ride, rider.preferred_language) == (
        "+4915112345678",
        True,
        "de",
    )
    assert rider.display_name == "Carla"


def test_rider_update_validates_phone(registered_rider: Rider) -> None:
    with pytest.raises(ValidationError) as caught:
        services.rider_update(rider=registered_rider, data={"phone": "0151 123"})
    assert "phone" in caught.value.message_dict


def test_rider_update_refuses_fields_outside_the_profile(registered_rider: Rider) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.rider_update(rider=registered_rider, data={"id": "x"})
    assert caught.value.field == "id"


# Top-ups


def test_top_up_adds_credit_and_writes_one_entry(rider: Any) -> None:
    entry, created = services.wallet_top_up(
        rider_id=rider.id, amount=Decimal("20.00"), reference="t-1"
    )
    assert created
    assert (entry.kind, entry.amount, entry.available_after, entry.held_after) == (
        "top_up",
        Decimal("20.00"),
        Decimal("20.00"),
        Decimal("0.00"),
    )
    assert balances(rider.id) == (Decimal("20.00"), Decimal("0.00"))
    assert kinds(rider.id) == ["top_up"]


def test_top_up_is_idempotent_per_reference(rider: Any) -> None:
    first, created_first = services.wallet_top_up(
        rider_id=rider.id, amount=Decimal("20.00"), reference="t-1"
    )
    again, created_again = services.wallet_top_up(
        rider_id=rider.id, amount=Decimal("20.00"), reference="t-1"
    )
    assert created_first
    assert not created_again
    assert again.pk == first.pk
    assert balances(rider.id) == (Decimal("20.00"), Decimal("0.00"))
    assert kinds(rider.id) == ["top_up"]


def test_top_up_reference_reused_for_other_amount_conflicts(rider: Any) -> None:
    services.wallet_top_up(rider_id=rider.id, amount=Decimal("20.00"), reference="t-1")
    with pytest.raises(Conflict):
        services.wallet_top_up(rider_id=rider.id, amount=Decimal("30.00"), reference="t-1")
    assert balances(rider.id) == (Decimal("20.00"), Decimal("0.00"))


@pytest.mark.parametrize("amount", ["0", "-1.00", "500.01", "1.005", "NaN"])
def test_top_up_refuses_bad_amounts(rider: Any, amount: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.wallet_top_up(rider_id=rider.id, amount=Decimal(amount), reference="t")
    assert caught.value.field == "amount"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("500.01", "amount must be at most 500.00"),
        ("0.00", "amount must be greater than zero"),
        ("-5.00", "amount must be greater than zero"),
        ("2.001", "amount must be in whole cents"),
    ],
)
def test_top_up_messages_name_the_amount_and_the_limit(
    rider: Any, amount: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.wallet_top_up(rider_id=rider.id, amount=Decimal(amount), reference="t")
    assert caught.value.message == reason + "."
    assert not LedgerEntry.objects.exists()


def test_top_up_of_the_maximum_is_accepted(rider: Any) -> None:
    services.wallet_top_up(rider_id=rider.id, amount=Decimal("500.00"), reference="t")
    assert balances(rider.id) == (Decimal("500.00"), Decimal("0.00"))


def test_top_up_for_non_rider_is_rider_not_found(staff: Any) -> None:
    with pytest.raises(RiderNotFound):
        services.wallet_top_up(rider_id=staff.id, amount=Decimal("1.00"), reference="t")


# Holds, releases, captures


def test_hold_moves_available_to_held(funded_rider: Any) -> None:
    hold, created = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    assert created
    assert hold.status == CreditHold.Status.HELD
    assert balances(funded_rider.id) == (Decimal("70.00"), Decimal("30.00"))
    assert kinds(funded_rider.id) == ["top_up", "hold"]


def test_hold_is_idempotent_per_reference(funded_rider: Any) -> None:
    first, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    again, created = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    assert not created
    assert again.pk == first.pk
    assert balances(funded_rider.id) == (Decimal("70.00"), Decimal("30.00"))
    assert kinds(funded_rider.id) == ["top_up", "hold"]


def test_hold_beyond_available_is_insufficient_credit(funded_rider: Any) -> None:
    with pytest.raises(InsufficientCredit) as caught:
        services.credit_hold_create(
            rider_id=funded_rider.id, amount=Decimal("100.01"), reference="trip-1"
        )
    assert caught.value.status == 409
    assert balances(funded_rider.id) == (Decimal("100.00"), Decimal("0.00"))
    assert not CreditHold.objects.exists()
    assert kinds(funded_rider.id) == ["top_up"]


def test_release_returns_credit_and_second_release_is_a_no_op(funded_rider: Any) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    released = services.credit_hold_release(hold_id=hold.id)
    again = services.credit_hold_release(hold_id=hold.id)
    assert released.status == again.status == CreditHold.Status.RELEASED
    assert released.settled_at is not None
    assert balances(funded_rider.id) == (Decimal("100.00"), Decimal("0.00"))
    assert kinds(funded_rider.id) == ["top_up", "hold", "release"]


def test_full_capture_spends_the_hold(funded_rider: Any) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    captured = services.credit_hold_capture(hold_id=hold.id)
    services.credit_hold_capture(hold_id=hold.id)
    assert captured.status == CreditHold.Status.CAPTURED
    assert captured.captured_amount == Decimal("30.00")
    assert balances(funded_rider.id) == (Decimal("70.00"), Decimal("0.00"))
    assert kinds(funded_rider.id) == ["top_up", "hold", "capture"]


def test_partial_capture_releases_the_remainder(funded_rider: Any) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    captured = services.credit_hold_capture(hold_id=hold.id, amount=Decimal("12.50"))
    assert captured.captured_amount == Decimal("12.50")
    assert balances(funded_rider.id) == (Decimal("87.50"), Decimal("0.00"))
    capture, release = LedgerEntry.objects.filter(hold=hold, kind__in=["capture", "release"])
    entries = {capture.kind: capture, release.kind: release}
    assert entries["capture"].amount == Decimal("12.50")
    assert entries["release"].amount == Decimal("17.50")
    assert entries["release"].available_after == Decimal("87.50")
    assert kinds(funded_rider.id) == ["top_up", "hold", "capture", "release"]


def test_capture_more_than_held_is_refused(funded_rider: Any) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    with pytest.raises(InvalidRequest) as caught:
        services.credit_hold_capture(hold_id=hold.id, amount=Decimal("30.01"))
    assert caught.value.field == "amount"
    assert CreditHold.objects.get(pk=hold.pk).status == CreditHold.Status.HELD


def test_capture_after_release_is_an_illegal_transition(funded_rider: Any) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    services.credit_hold_release(hold_id=hold.id)
    with pytest.raises(IllegalTransition) as caught:
        services.credit_hold_capture(hold_id=hold.id)
    assert caught.value.status == 409
    assert "released" in caught.value.message
    assert "captured" in caught.value.message
    assert balances(funded_rider.id) == (Decimal("100.00"), Decimal("0.00"))


def test_release_after_capture_is_an_illegal_transition(funded_rider: Any) -> None:
    hold, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("30.00"), reference="trip-1"
    )
    services.credit_hold_capture(hold_id=hold.id)
    with pytest.raises(IllegalTransition):
        services.credit_hold_release(hold_id=hold.id)
    assert balances(funded_rider.id) == (Decimal("70.00"), Decimal("0.00"))


def test_unknown_hold_is_not_found(db: Any) -> None:
    with pytest.raises(CreditHoldNotFound):
        services.credit_hold_release(hold_id=uuid.uuid4())


# Staff adjustments


def test_adjustment_credits_and_debits_with_memo(funded_rider: Any, staff: Any) -> None:
    services.wallet_adjust(
        rider_id=funded_rider.id, amount=Decimal("5.00"), memo="late car", created_by=staff
    )
    entry = services.wallet_adjust(
        rider_id=funded_rider.id, amount=Decimal("-25.00"), memo="refund reversal", created_by=staff
    )
    assert (entry.amount, entry.memo, entry.created_by_id) == (
        Decimal("-25.00"),
        "refund reversal",
        staff.id,
    )
    assert balances(funded_rider.id) == (Decimal("80.00"), Decimal("0.00"))
    assert kinds(funded_rider.id) == ["top_up", "adjustment", "adjustment"]


def test_adjustment_cannot_make_the_balance_negative(funded_rider: Any, staff: Any) -> None:
    with pytest.raises(InsufficientCredit):
        services.wallet_adjust(
            rider_id=funded_rider.id, amount=Decimal("-100.01"), memo="x", created_by=staff
        )
    assert balances(funded_rider.id) == (Decimal("100.00"), Decimal("0.00"))


def test_adjustment_needs_a_memo(funded_rider: Any, staff: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.wallet_adjust(
            rider_id=funded_rider.id, amount=Decimal("5.00"), memo="  ", created_by=staff
        )
    assert caught.value.field == "memo"


def test_adjustment_needs_fleet_staff(funded_rider: Any, other_rider: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        services.wallet_adjust(
            rider_id=funded_rider.id, amount=Decimal("5.00"), memo="me", created_by=other_rider
        )
    assert caught.value.field == "created_by"
    assert balances(funded_rider.id) == (Decimal("100.00"), Decimal("0.00"))


# The ledger itself


def test_every_movement_writes_exactly_one_entry_and_balances_follow(
    funded_rider: Any, staff: Any
) -> None:
    first, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("40.00"), reference="a"
    )
    second, _ = services.credit_hold_create(
        rider_id=funded_rider.id, amount=Decimal("10.00"), reference="b"
    )
    services.credit_hold_release(hold_id=second.id)
    services.credit_hold_capture(hold_id=first.id)
    services.wallet_adjust(
        rider_id=funded_rider.id, amount=Decimal("1.00"), memo="sorry", created_by=staff
    )

    entries = list(
        LedgerEntry.objects.filter(wallet__rider_id=funded_rider.id).order_by("sequence")
    )
    assert [entry.kind for entry in entries] == [
        "top_up",
        "hold",
        "hold",
        "release",
        "capture",
        "adjustment",
    ]
    assert [entry.sequence for entry in entries] == [1, 2, 3, 4, 5, 6]
    wallet = Wallet.objects.get(rider_id=funded_rider.id)
    assert (entries[-1].available_after, entries[-1].held_after) == (wallet.available, wallet.held)
    assert wallet.ledger_sequence == 6
    # Replaying the entries gives the stored balances.
    available = held = Decimal("0")
    for entry in entries:
        if entry.kind in ("top_up", "adjustment"):
            available += entry.amount
        elif entry.kind == "hold":
            available, held = available - entry.amount, held + entry.amount
        elif entry.kind == "release":
            available, held = available + entry.amount, held - entry.amount
        else:
            held -= entry.amount
        assert (available, held) == (entry.available_after, entry.held_after)


def test_ledger_entries_cannot_be_changed_or_deleted(funded_rider: Any) -> None:
    entry = LedgerEntry.objects.get(wallet__rider_id=funded_rider.id)
    entry.memo = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    # The database refuses as well, whoever asks.
    with pytest.raises(IntegrityError), module_atomic("users"):
        LedgerEntry.objects.filter(pk=entry.pk).update(memo="rewritten")
    with pytest.raises(IntegrityError), module_atomic("users"):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert LedgerEntry.objects.get(pk=entry.pk).memo == ""


def test_database_refuses_negative_balances(funded_rider: Any) -> None:
    with pytest.raises(IntegrityError), module_atomic("users"):
        Wallet.objects.filter(rider_id=funded_rider.id).update(available=Decimal("-0.01"))
    with pytest.raises(IntegrityError), module_atomic("users"):
        Wallet.objects.filter(rider_id=funded_rider.id).update(held=Decimal("-0.01"))
