"""The daily prune of shadow mismatches: a beat entry, and a task that keeps recent ones."""

from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from monolith.cohorts import tasks
from monolith.cohorts.models import ShadowMismatch


def _mismatch(days_ago: float) -> ShadowMismatch:
    return ShadowMismatch.objects.create(
        module="trips", method="GET", path="/api/v1/trips/", monolith_status=200,
        service_status=404, diff="status: monolith 200, service 404",
        recorded_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip


@pytest.mark.django_db
def test_the_task_prunes_mismatches_past_the_retention_and_keeps_recent_ones() -> None:
    old, edge, recent = _mismatch(15), _mismatch(13.9), _mismatch(0)
    assert settings.COHORT_SHADOW_RETENTION_DAYS == 14
    assert tasks.shadow_mismatches_prune() == 1
    assert set(ShadowMismatch.objects.values_list("pk", flat=True)) == {edge.pk, recent.pk}
    assert not ShadowMismatch.objects.filter(pk=old.pk).exists()

    with override_settings(COHORT_SHADOW_RETENTION_DAYS=7):
        assert tasks.shadow_mismatches_prune() == 1
    assert list(ShadowMismatch.objects.values_list("pk", flat=True)) == [recent.pk]


def test_beat_runs_it_daily_at_a_quiet_hour_apart_from_the_events_prune() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["cohorts.shadow_mismatches_prune"]
    assert entry["task"] == tasks.shadow_mismatches_prune.name
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert "20 4 * * *" in str(schedule)
    events = settings.CELERY_BEAT_SCHEDULE["platform.events_prune"]["schedule"]
    assert "40 3 * * *" in str(events)
