from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "modules.users"
    label = "users"
    verbose_name = "Users"
    default_auto_field = "django.db.models.BigAutoField"
    # The modules this one may call (through their api.py) or subscribe to (their events.py).
    depends_on: tuple[str, ...] = ()
