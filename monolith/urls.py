"""URLs: the admin, each module's REST API under /api/v1/<module>/, docs and probes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monolith.platform import health
from monolith.platform.auth_api import TokenObtainApi
from monolith.platform.registry import fleet_modules

handler404 = "monolith.platform.rest.api_aware_not_found"

admin.site.site_header = "Fleet platform"
admin.site.site_title = "Fleet platform admin"
admin.site.index_title = "Fleet operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", TokenObtainApi.as_view(), name="auth-token"),
    # Each installed module's API, under its label: a deployable serves what it installs.
    *(
        path(f"api/v1/{module.label}/", include(f"{module.name}.urls"))
        for module in fleet_modules()
    ),
    # Calls from other deployables to the api.py of the modules served here (signed tokens).
    path("internal/v1/", include("monolith.platform.interservice.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]
