"""REST API of the vehicles module, mounted at /api/v1/vehicles/."""

from django.urls import path

from modules.vehicles import apis

app_name = "vehicles"

urlpatterns = [
    path("", apis.VehicleListApi.as_view(), name="vehicle-list"),
    path("summary/", apis.FleetSummaryApi.as_view(), name="fleet-summary"),
    path("firmware/", apis.FirmwareReleaseListApi.as_view(), name="firmware-list"),
    path("<uuid:vehicle_id>/", apis.VehicleDetailApi.as_view(), name="vehicle-detail"),
    path(
        "<uuid:vehicle_id>/transitions/",
        apis.VehicleTransitionApi.as_view(),
        name="vehicle-transition",
    ),
    path("<uuid:vehicle_id>/history/", apis.VehicleHistoryApi.as_view(), name="vehicle-history"),
    path(
        "<uuid:vehicle_id>/telemetry/", apis.VehicleTelemetryApi.as_view(), name="vehicle-telemetry"
    ),
    path(
        "<uuid:vehicle_id>/firmware/",
        apis.VehicleFirmwareAssignApi.as_view(),
        name="vehicle-firmware-assign",
    ),
]
