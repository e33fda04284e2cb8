from django.apps import AppConfig


class VehiclesConfig(AppConfig):
    name = "modules.vehicles"
    label = "vehicles"
    verbose_name = "Vehicles"
    default_auto_field = "django.db.models.BigAutoField"
    # The modules this one may call (through their api.py) or subscribe to (their events.py).
    depends_on: tuple[str, ...] = ()
