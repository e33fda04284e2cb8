"""The lender's front door."""

from uuid import UUID

from boundary_fixtures.orm.fixture_lender.models import Loan


def loan_count(*, lender_id: UUID) -> int:
    """How many loans a lender has made."""
    return Loan.objects.filter(lender_id=lender_id).count()
