"""REST endpoints of the trips module, mounted at /api/v1/trips/.

Riders request, follow and cancel their own trips; the fleet's dispatch systems act as fleet
staff to start trips, report positions and complete them. Another rider's trip is a 404.

Where two methods share a path (the trip collection, a trip's positions) one class serves both,
because Django routes by path; each method still has its own serializers and permissions.
"""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
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
from monolith.platform.access import IsFleetStaff, Role, is_fleet_staff, user_roles

TAGS = ["trips"]
COORDINATE_STEP = Decimal("0.000001")


class CoordinateField(serializers.DecimalField):
    """A latitude or longitude, rounded to six places (about 11 cm) rather than refused.

    GPS readings arrive as floats such as ``52.520006599999``; rounding them beats a 400.
    """

    def __init__(self, *, limit: int, **kwargs: Any) -> None:
        super().__init__(
            max_digits=9,
            decimal_places=6,
            min_value=Decimal(-limit),
            max_value=Decimal(limit),
            **kwargs,
        )

    def validate_precision(self, value: Decimal) -> Decimal:
        # Huge values are left for the digit checks to refuse; quantizing them would overflow.
        if value.is_finite() and abs(value) < 1000:
            value = value.quantize(COORDINATE_STEP, rounding=ROUND_HALF_EVEN)
        return super().validate_precision(value)


class TripChoiceField(serializers.ChoiceField):
    """A choice documented once, as the named schema component ``component``."""

    def __init__(self, *, component: str, **kwargs: Any) -> None:
        self.component = component
        super().__init__(**kwargs)


class TripChoiceFieldExtension(OpenApiSerializerFieldExtension):
    # A named component keeps these choice sets out of drf-spectacular's enum naming, which
    # otherwise collides with other modules' ``status`` and ``reason`` fields.
    target_class = TripChoiceField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        field: TripChoiceField = self.target
        values = [value for value in field.choices if value != ""]
        component = ResolvedComponent(
            name=field.component,
            type=ResolvedComponent.SCHEMA,
            object=field.component,
            schema={"type": "string", "enum": values},
        )
        auto_schema.registry.register_on_missing(component)
        if field.allow_blank:
            return {"oneOf": [component.ref, {"type": "string", "enum": [""]}]}
        return component.ref


UNAUTHENTICATED = OpenApiResponse(description="No or an invalid token.")
NOT_FOUND = OpenApiResponse(
    description="No such trip, or it is another rider's (riders only see their own)."
)
STAFF_ONLY = OpenApiResponse(description="Only fleet staff (dispatch systems) may do this.")


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
    status = TripChoiceField(component="TripStatusEnum", choices=TripStatus.choices)
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
    cancel_reason = TripChoiceField(
        component="TripCancelReasonEnum",
        choices=CancelReason.choices,
        allow_blank=True,
        help_text="Empty unless the trip was cancelled.",
    )
    cancel_note = serializers.CharField()
    cancelled_by = TripChoiceField(
        component="TripCancelledByEnum",
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
        origin_latitude = CoordinateField(limit=90)
        origin_longitude = CoordinateField(limit=180)
        destination_latitude = CoordinateField(limit=90)
        destination_longitude = CoordinateField(limit=180)

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
            403: STAFF_ONLY,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The trip is not `assigned`."),
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
        latitude = CoordinateField(limit=90)
        longitude = CoordinateField(limit=180)

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
            403: STAFF_ONLY,
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
            max_digits=8, decimal_places=2, min_value=Decimal("0.01")
        )
        duration_seconds = serializers.IntegerField(min_value=1)

    OutputSerializer = TripOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="trips_complete",
        summary="Complete a running trip",
        description=(
            "The rider arrived: the vehicle is free again, its odometer grows by `distance_km`, "
            "and `trips.TripCompleted` is published. Fleet staff only."
        ),
        request=InputSerializer,
        responses={
            200: TripOutputSerializer,
            400: OpenApiResponse(
                description="`distance_km` or `duration_seconds` is missing or not positive."
            ),
            401: UNAUTHENTICATED,
            403: STAFF_ONLY,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The trip is not `in_progress`."),
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
        reason = TripChoiceField(
            component="TripCancelReasonEnum",
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
