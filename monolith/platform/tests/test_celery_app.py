from pathlib import Path

import pytest
from django.conf import settings

from monolith.celery import app


def test_celery_takes_its_broker_from_the_environment() -> None:
    assert settings.CELERY_BROKER_URL
    assert app.conf.broker_url == settings.CELERY_BROKER_URL


def test_celery_acknowledges_late_and_requeues_on_worker_loss() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_always_eager is False


def test_the_ping_task_writes_markers_only_in_the_temporary_folder(tmp_path: Path) -> None:
    from monolith.platform.tasks import ping

    with pytest.raises(ValueError, match="writes markers only under"):
        ping("/etc/fleet-ping-marker")
    marker = tmp_path / "marker"
    assert ping(str(marker)) > 0
    assert marker.read_text().startswith("start ")
