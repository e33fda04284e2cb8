from monolith.platform import registry


class UsersConfig(registry.FleetModuleConfig):
    name = "modules.users"
    label = "users"
    verbose_name = "Users"
    depends_on = ()
