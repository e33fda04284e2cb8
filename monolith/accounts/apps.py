from django.apps import AppConfig, apps


class AccountsConfig(AppConfig):
    name = "monolith.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # The edge remembers tokens only where cohort routing (which announces the changes)
        # and DRF's tokens are installed: not in a project such as the boundary checks' fixture.
        if apps.is_installed("monolith.cohorts") and apps.is_installed("rest_framework.authtoken"):
            import monolith.accounts.signals  # noqa: F401
