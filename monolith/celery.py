"""The Celery application; its broker comes from ``CELERY_BROKER_URL``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")

app = Celery("fleet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
