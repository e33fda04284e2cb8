from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class PlatformConfig(AppConfig):
    name = "monolith.platform"
    label = "platform"
    verbose_name = "Fleet platform"

    def ready(self) -> None:
        # Loads the Celery app with Django, so tasks queued from web processes find it.
        import monolith.celery
        import monolith.platform.boundaries.checks  # noqa: F401
        from monolith.platform.boundaries.sql_guard import sql_guard_install
        from monolith.platform.roles import roles_ensure

        # Permissions are created app by app as migrate finishes each one, so the roles are
        # granted theirs once the last app with models is done.
        last_app = [config for config in apps.get_app_configs() if config.models_module][-1]
        post_migrate.connect(roles_ensure, sender=last_app, dispatch_uid="fleet-roles-ensure")
        from monolith.platform.outbox.mirror import mirror_sync

        post_migrate.connect(mirror_sync, dispatch_uid="fleet-mirror-sync")
        sql_guard_install()
        # A module with a service: other modules' calls to its api go where the user is routed
        # (a project without cohort routing, such as the boundary checks' fixture, has none).
        if apps.is_installed("monolith.cohorts"):
            from monolith.platform.interservice.routed import routed_apis_install

            routed_apis_install()
