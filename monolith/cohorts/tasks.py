"""Cohort routing's periodic work: shadow mismatches past their retention go (run by beat)."""

from celery import shared_task
from django.conf import settings

from monolith.cohorts.shadow import shadow_mismatches_prune as _shadow_mismatches_prune


@shared_task(name="cohorts.shadow_mismatches_prune")
def shadow_mismatches_prune() -> int:
    """Delete shadow mismatches recorded more than ``COHORT_SHADOW_RETENTION_DAYS`` days ago,
    as ``manage.py cohort prune`` does; how many went."""
    return _shadow_mismatches_prune(older_than_days=settings.COHORT_SHADOW_RETENTION_DAYS)
