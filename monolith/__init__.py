"""The Django project that hosts every fleet module, plus the platform they stand on."""

from monolith.celery import app as celery_app

__all__ = ["celery_app"]
