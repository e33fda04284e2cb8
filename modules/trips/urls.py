"""REST API of the trips module, mounted at /api/v1/trips/."""

app_name = "trips"

urlpatterns: list = []
