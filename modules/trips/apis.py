"""REST endpoints of the trips module, mounted at /api/v1/trips/.

Riders request, follow and cancel their own trips; the fleet's dispatch systems act as fleet
staff to start trips, report positions and complete them. Another rider's trip is a 404.

Where two methods share a path (the trip collection, a trip's positions) one class serves both,
because Django routes by path; each method still has its own serializers and permissions.
"""

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.filters import OrderingFilter
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.trips import selectors, services
from modules.trips.filters import TripFilter
from modules.trips.models import CancelledBy, CancelReason, Trip, TripPosition, TripStatus
from modules.trips.services import MAX_DISTANCE_KM, MAX_DURATION_SECONDS
from monolith.platform.access import IsFleetStaff, Role, is_fleet_staff, user_roles
from monolith.platform.geo import latitude_field, longitude_field
from monolith.platform.rest import NOT_FLEET_STAFF, UNAUTHENTICATED

TAGS = ["trips"]


NOT_FOUND = OpenApiResponse(
    description="No such trip, or it is another rider's (riders only see their own)."
)


class IsRider(BasePermission):
    """Only accounts holding the rider role."""

    message = "Only riders may request trips."

    def has_permission(self, request: Request, view: Any) -> bool:
        return Role.RIDER in user_roles(request.user)


def _caller_id(request: Request) -> UUID:
    """The signed-in caller's account id, which is their rider id across modules."""
    caller_id = request.user.pk
    if not isinstance(caller_id, UUID):
        # The views' permissions already turned anonymous callers away; this keeps it certain.
        raise NotAuthenticated()
    return caller_id


def _viewer_rider_id(request: Request) -> UUID | None:
    """``None`` for fleet staff, who see every trip; otherwise the rider's own id."""
    return None if is_fleet_staff(request.user) else _caller_id(request)


@extend_schema_serializer(component_name="Trip")
class TripOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    rider_id = serializers.UUIDField()
    vehicle_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=TripStatus.choices)
    origin_latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    origin_longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    destination_latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    destination_longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    requested_at = serializers.DateTimeField()
    assigned_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    cancel_reason = serializers.ChoiceField(
        choices=CancelReason.choices,
        allow_blank=True,
        help_text="Empty unless the trip was cancelled.",
    )
    cancel_note = serializers.CharField()
    cancelled_by = serializers.ChoiceField(
        choices=CancelledBy.choices,
        allow_blank=True,
        help_text="Empty unless the trip was cancelled.",
    )


@extend_schema_serializer(component_name="TripPosition")
class TripPositionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    trip_id = serializers.UUIDField()
    recorded_at = serializers.DateTimeField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6)


def _trip_response(trip: Trip, *, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(TripOutputSerializer(trip).data, status=status_code)


class TripListRequestApi(GenericAPIView[Trip]):
    """GET: the trips the caller may see. POST: a rider requests a trip."""

    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = TripFilter
    ordering_fields = ["requested_at"]
    ordering = ["-requested_at", "-id"]

    @extend_schema_serializer(component_name="NewTrip")
    class InputSerializer(serializers.Serializer):
        origin_latitude = latitude_field()
        origin_longitude = longitude_field()
        destination_latitude = latitude_field()
        destination_longitude = longitude_field()

    OutputSerializer = TripOutputSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [IsAuthenticated(), IsRider()]
        return [IsAuthenticated()]

    def get_queryset(self) -> QuerySet[Trip]:
        if getattr(self, "swagger_fake_view", False):
            return Trip.objects.none()
        return selectors.trip_list(rider_id=_viewer_rider_id(self.request))

    @extend_schema(
        tags=TAGS,
        operation_id="trips_list",
        summary="List trips",
        description=(
            "A rider sees their own trips (their history); fleet staff see every trip. "
            "Newest first unless `ordering=requested_at`."
        ),
        responses={
            200: TripOutputSerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid; the body names it."),
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="The page does not exist."),
        },
    )
    def get(self, request: Request) -> Response:
        trips = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(trips)
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="trips_request",
        summary="Request a trip",
        description=(
            "Creates the trip and assigns the nearest available vehicle in one step; the trip "
            "comes back `assigned` with its `vehicle_id`. Nothing is stored when it fails."
        ),
        request=InputSerializer,
        responses={
            201: TripOutputSerializer,
            400: OpenApiResponse(
                description="A coordinate is missing or out of range, or origin equals "
                "destination; the body names the field."
            ),
            401: UNAUTHENTICATED,
            403: OpenApiResponse(description="The caller does not hold the rider role."),
            409: OpenApiResponse(
                description="No vehicle is available (`no_vehicle_available`) or the rider "
                "already has an active trip (`active_trip_exists`)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trip = services.trip_request(rider_id=_caller_id(request), **serializer.validated_data)
        return _trip_response(trip, status_code=status.HTTP_201_CREATED)


class TripDetailApi(APIView):
    permission_classes = [IsAuthenticated]
    OutputSerializer = TripOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="trips_retrieve",
        summary="One trip",
        responses={200: TripOutputSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def get(self, request: Request, trip_id: UUID) -> Response:
        trip = selectors.trip_get(trip_id=trip_id, rider_id=_viewer_rider_id(request))
        return _trip_response(trip)


class TripStartApi(APIView):
    permission_classes = [IsFleetStaff]
    OutputSerializer = TripOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="trips_start",
        summary="Start an assigned trip",
        description="The rider is on board; the vehicle sets off. Fleet staff only.",
        request=None,
        responses={
            200: TripOutputSerializer,
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="The trip is not `assigned`, or its vehicle went offline and cannot "
                "set off (`illegal_transition`)."
            ),
        },
    )
    def post(self, request: Request, trip_id: UUID) -> Response:
        return _trip_response(services.trip_start(trip_id=trip_id))


class TripPositionsApi(GenericAPIView[TripPosition]):
    """GET: the positions reported so far. POST: report one position."""

    filter_backends = [OrderingFilter]
    ordering_fields = ["recorded_at"]
    ordering = ["-recorded_at", "-id"]

    @extend_schema_serializer(component_name="TripPositionReport")
    class InputSerializer(serializers.Serializer):
        recorded_at = serializers.DateTimeField()
        latitude = latitude_field()
        longitude = longitude_field()

    OutputSerializer = TripPositionOutputSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [IsFleetStaff()]
        return [IsAuthenticated()]

    def get_queryset(self) -> QuerySet[TripPosition]:
        if getattr(self, "swagger_fake_view", False):
            return TripPosition.objects.none()
        trip = selectors.trip_get(
            trip_id=self.kwargs["trip_id"], rider_id=_viewer_rider_id(self.request)
        )
        return selectors.trip_position_list(trip_id=trip.id)

    @extend_schema(
        tags=TAGS,
        operation_id="trips_positions_list",
        summary="Live positions of a trip",
        description=(
            "The positions reported for the trip, latest first unless `ordering=recorded_at`. "
            "The trip's rider or fleet staff."
        ),
        responses={
            200: TripPositionOutputSerializer(many=True),
            401: UNAUTHENTICATED,
            404: OpenApiResponse(
                description="No such trip, another rider's trip, or the page does not exist."
            ),
        },
    )
    def get(self, request: Request, trip_id: UUID) -> Response:
        positions = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(positions)
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="trips_positions_record",
        summary="Report a position of a running trip",
        description=(
            "One position per call (`recorded_at`, `latitude`, `longitude`); only while the "
            "trip is `in_progress`. Fleet staff (dispatch systems) only."
        ),
        request=InputSerializer,
        responses={
            201: TripPositionOutputSerializer,
            400: OpenApiResponse(
                description="A field is missing or out of range, or `recorded_at` is before the "
                "start or in the future; the body names the field."
            ),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The trip is not in progress."),
        },
    )
    def post(self, request: Request, trip_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        position = services.trip_record_position(trip_id=trip_id, **serializer.validated_data)
        return Response(self.OutputSerializer(position).data, status=status.HTTP_201_CREATED)


class TripCompleteApi(APIView):
    permission_classes = [IsFleetStaff]

    @extend_schema_serializer(component_name="TripCompletion")
    class InputSerializer(serializers.Serializer):
        distance_km = serializers.DecimalField(
            max_digits=6,
            decimal_places=2,
            min_value=Decimal("0.01"),
            max_value=MAX_DISTANCE_KM,
            help_text=f"Kilometres driven, up to {MAX_DISTANCE_KM}.",
        )
        duration_seconds = serializers.IntegerField(
            min_value=1,
            max_value=MAX_DURATION_SECONDS,
            help_text=f"Seconds from start to arrival, up to {MAX_DURATION_SECONDS} (seven days).",
        )

    OutputSerializer = TripOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="trips_complete",
        summary="Complete a running trip",
        description=(
            "The rider arrived: the vehicle is free again (or stays offline if it stopped "
            "answering on the way), its odometer grows by `distance_km`, and "
            "`trips.TripCompleted` is published. Fleet staff only."
        ),
        request=InputSerializer,
        responses={
            200: TripOutputSerializer,
            400: OpenApiResponse(
                description="`distance_km` (over 0, at most 2000) or `duration_seconds` (1 to "
                "seven days) is missing or out of range; the body names the field."
            ),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="The trip is not `in_progress` (`illegal_transition`). A vehicle "
                "that went offline during the trip stays offline, no longer held."
            ),
        },
    )
    def post(self, request: Request, trip_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trip = services.trip_complete(trip_id=trip_id, **serializer.validated_data)
        return _trip_response(trip)


class TripCancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="TripCancellation")
    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(
            choices=CancelReason.choices,
            help_text="Riders may give rider_changed_mind, vehicle_issue or other.",
        )
        note = serializers.CharField(
            max_length=500,
            required=False,
            allow_blank=True,
            default="",
            help_text="Free text; required when the reason is other.",
        )

    OutputSerializer = TripOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="trips_cancel",
        summary="Cancel a trip that has not started",
        description=(
            "The trip's rider or fleet staff; the reserved vehicle goes back to the fleet."
        ),
        request=InputSerializer,
        responses={
            200: TripOutputSerializer,
            400: OpenApiResponse(
                description="Unknown reason, a reason riders may not give, or a missing note; "
                "the body names the field."
            ),
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The trip already started, ended or was cancelled."),
        },
    )
    def post(self, request: Request, trip_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rider_id = _viewer_rider_id(request)
        # Looking the trip up as the caller turns another rider's trip into a 404.
        trip = selectors.trip_get(trip_id=trip_id, rider_id=rider_id)
        trip = services.trip_cancel(
            trip_id=trip.id,
            reason=serializer.validated_data["reason"],
            note=serializer.validated_data["note"],
            cancelled_by=CancelledBy.STAFF if rider_id is None else CancelledBy.RIDER,
        )
        return _trip_response(trip)
