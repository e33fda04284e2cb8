"""REST API of the users module, mounted at /api/v1/users/."""

from django.urls import path

from modules.users import apis

app_name = "users"

urlpatterns = [
    path("riders/", apis.RiderListApi.as_view(), name="rider-list"),
    path("riders/<uuid:rider_id>/", apis.RiderDetailApi.as_view(), name="rider-detail"),
    path(
        "riders/<uuid:rider_id>/wallet/adjustments/",
        apis.RiderWalletAdjustmentApi.as_view(),
        name="rider-wallet-adjustments",
    ),
    path("me/", apis.MeApi.as_view(), name="me"),
    path("me/wallet/", apis.MeWalletApi.as_view(), name="me-wallet"),
    path("me/wallet/ledger/", apis.MeLedgerApi.as_view(), name="me-wallet-ledger"),
]
