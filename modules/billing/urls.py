"""REST API of the billing module, mounted at /api/v1/billing/."""

app_name = "billing"

urlpatterns: list = []
