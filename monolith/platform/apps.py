from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "monolith.platform"
    label = "platform"
    verbose_name = "Fleet platform"
