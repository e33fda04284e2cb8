from django.apps import AppConfig


class TripsConfig(AppConfig):
    name = "modules.trips"
    label = "trips"
    verbose_name = "Trips"
    default_auto_field = "django.db.models.BigAutoField"
    # The modules this one may call (through their api.py) or subscribe to (their events.py).
    depends_on: tuple[str, ...] = ("vehicles", "users")
