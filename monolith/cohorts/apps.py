from django.apps import AppConfig


class CohortsConfig(AppConfig):
    name = "monolith.cohorts"
    label = "cohorts"
    verbose_name = "Cohort routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import monolith.cohorts.signals  # noqa: F401
