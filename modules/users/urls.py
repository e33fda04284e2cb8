"""REST API of the users module, mounted at /api/v1/users/."""

app_name = "users"

urlpatterns: list = []
