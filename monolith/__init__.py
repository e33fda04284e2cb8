"""The Django project that hosts every fleet module, plus the platform they stand on.

Kept free of imports: ``python -m monolith.embedded`` imports this package before any settings
exist. The Celery app is loaded by the platform's AppConfig (and by ``celery -A monolith.celery``).
"""
