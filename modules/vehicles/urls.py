"""REST API of the vehicles module, mounted at /api/v1/vehicles/."""

app_name = "vehicles"

urlpatterns: list = []
