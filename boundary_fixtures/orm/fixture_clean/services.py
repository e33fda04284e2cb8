"""Models found by name inside the module and in the platform; the lender only through its api."""

from uuid import UUID

from django.apps import apps

from boundary_fixtures.orm.fixture_lender import api as lender_api


def account_count() -> int:
    return apps.get_model("fixture_clean", "Account").objects.count()


def staff_count() -> int:
    return apps.get_model("accounts.User").objects.filter(is_staff=True).count()


def account_lender_loans(*, lender_id: UUID) -> int:
    return lender_api.loan_count(lender_id=lender_id)
