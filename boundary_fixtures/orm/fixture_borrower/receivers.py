"""Receivers aimed at the lender's model: what an event subscription should replace."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from boundary_fixtures.orm.fixture_lender.models import Loan


# planted: signal-cross-module
@receiver(post_save, sender=Loan, dispatch_uid="borrower-loan-saved")
def loan_saved(sender: Any, **kwargs: Any) -> None:
    return None


# Connected in apps.py with the string sender "fixture_lender.Loan": reported there.
def loan_deleted(sender: Any, **kwargs: Any) -> None:
    return None
