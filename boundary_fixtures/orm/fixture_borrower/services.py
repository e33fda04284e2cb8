"""Reads another module's models by name rather than through its api."""

from decimal import Decimal

from django.apps import apps
from django.db.models import Sum


def borrower_exposure() -> Decimal:
    # planted: get-model-cross-module
    loan_model = apps.get_model("fixture_lender", "Loan")
    total = loan_model.objects.aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


def borrower_lender_count() -> int:
    # planted: get-model-cross-module
    return apps.get_model("fixture_lender.Lender").objects.count()
