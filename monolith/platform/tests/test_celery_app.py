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
