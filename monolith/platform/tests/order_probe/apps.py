from django.apps import AppConfig


class OrderProbeConfig(AppConfig):
    name = "monolith.platform.tests.order_probe"
    label = "order_probe"

    def ready(self) -> None:
        from monolith.platform.tests.order_probe.events import order_probe_subscribe

        order_probe_subscribe()
