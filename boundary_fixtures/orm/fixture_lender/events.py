"""Events the lender publishes."""

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class LoanGranted:
    name = "fixture_lender.loan_granted"
    version = 1
    loan_id: UUID
