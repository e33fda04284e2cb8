from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PlatformConfig(AppConfig):
    name = "monolith.platform"
    label = "platform"
    verbose_name = "Fleet platform"

    def ready(self) -> None:
        # Loads the Celery app with Django, so tasks queued from web processes find it.
        import monolith.celery  # noqa: F401
        from monolith.platform.roles import roles_ensure

        post_migrate.connect(roles_ensure, sender=self, dispatch_uid="fleet-roles-ensure")
