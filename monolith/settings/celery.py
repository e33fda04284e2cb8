"""Celery: the broker comes from the environment; nothing runs eagerly."""

from monolith.settings.environment import env_str

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Reliability defaults (see ../shared notes on Celery): a task is acknowledged only once done,
# and one whose worker dies is handed to another worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
