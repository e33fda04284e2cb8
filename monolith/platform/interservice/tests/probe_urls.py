"""The fleet's URLs plus a probe under billing's API that calls ``trips.api``, as billing would.

``GET /api/v1/billing/trips-probe/``: the caller's trips as ``trips.api.trip_list_for_rider``
answers; ``POST`` with ``{"trip_id": ...}`` starts that trip (``trips.api.trip_start``, a write).
The probe is code outside the trips module, so its calls are routed per call like billing's.
"""

from typing import Any
from uuid import UUID

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.trips import api as trips_api
from monolith.urls import urlpatterns as fleet_urlpatterns


class TripsProbeApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        assert request.user.pk is not None  # IsAuthenticated
        trips = trips_api.trip_list_for_rider(rider_id=request.user.pk)
        return Response({"trips": [str(trip.id) for trip in trips]})

    def post(self, request: Request) -> Response:
        data: dict[str, Any] = request.data
        trip = trips_api.trip_start(trip_id=UUID(data["trip_id"]))
        return Response({"id": str(trip.id), "status": trip.status})


urlpatterns = [
    path("api/v1/billing/trips-probe/", TripsProbeApi.as_view()),
    *fleet_urlpatterns,
]
