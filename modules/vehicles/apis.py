"""REST endpoints of the vehicles module: fleet staff only, since riders have no business
listing VINs or moving vehicles around."""

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.vehicles import selectors, services
from modules.vehicles.errors import TelemetryRejected
from modules.vehicles.filters import VehicleFilter
from modules.vehicles.lifecycle import VehicleStatus
from modules.vehicles.models import (
    COORDINATE_MAX_DIGITS,
    ODOMETER_MAX_KM,
    SEATS_MAX,
    SEATS_MIN,
    SPEED_MAX_KPH,
    Vehicle,
)
from modules.vehicles.services import TELEMETRY_BATCH_MAX, TelemetryInput
from monolith.platform.access import IsFleetStaff
from monolith.platform.geo import COORDINATE_PLACES, latitude_field, longitude_field
from monolith.platform.rest import NOT_FLEET_STAFF, UNAUTHENTICATED, FleetPagination

TAGS = ["vehicles"]

VEHICLE_NOT_FOUND = OpenApiResponse(description="No vehicle has this id.")


class VehicleOutputSerializer(serializers.Serializer):
    """A vehicle as every vehicle endpoint returns it."""

    id = serializers.UUIDField()
    vin = serializers.CharField()
    make = serializers.CharField()
    model = serializers.CharField()
    seats = serializers.IntegerField()
    status = serializers.ChoiceField(choices=VehicleStatus.choices)
    odometer_km = serializers.DecimalField(max_digits=10, decimal_places=2)
    battery_pct = serializers.IntegerField()
    latitude = serializers.DecimalField(
        max_digits=COORDINATE_MAX_DIGITS, decimal_places=COORDINATE_PLACES, allow_null=True
    )
    longitude = serializers.DecimalField(
        max_digits=COORDINATE_MAX_DIGITS, decimal_places=COORDINATE_PLACES, allow_null=True
    )
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)
    current_trip_id = serializers.UUIDField(
        allow_null=True, help_text="The trip holding the vehicle while reserved or in it."
    )
    firmware_version = serializers.CharField(source="firmware.version", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Vehicle"


class VehicleListApi(GenericAPIView[Vehicle]):
    """The fleet, filtered, searched, ordered and paginated; and registering a vehicle."""

    permission_classes = [IsFleetStaff]
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    filterset_class = VehicleFilter
    search_fields = ["vin", "make", "model"]
    ordering_fields = ["vin", "battery_pct", "odometer_km", "last_heartbeat_at"]
    ordering = ["vin"]
    serializer_class = VehicleOutputSerializer

    class InputSerializer(serializers.Serializer):
        vin = serializers.CharField(max_length=32)
        make = serializers.CharField(max_length=64)
        model = serializers.CharField(max_length=64)
        seats = serializers.IntegerField(min_value=SEATS_MIN, max_value=SEATS_MAX)
        latitude = latitude_field(required=False, allow_null=True, default=None)
        longitude = longitude_field(required=False, allow_null=True, default=None)
        battery_pct = serializers.IntegerField(min_value=0, max_value=100, default=100)

        class Meta:
            ref_name = "VehicleRegister"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if (attrs["latitude"] is None) != (attrs["longitude"] is None):
                missing = "longitude" if attrs["longitude"] is None else "latitude"
                raise serializers.ValidationError({missing: ["Give both latitude and longitude."]})
            return attrs

    OutputSerializer = VehicleOutputSerializer

    def get_queryset(self) -> QuerySet[Vehicle]:
        return selectors.vehicle_list()

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_list",
        summary="List the fleet",
        responses={
            200: OutputSerializer(many=True),
            400: OpenApiResponse(description="A filter value is not valid."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
        },
    )
    def get(self, request: Request) -> Response:
        vehicles = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(vehicles)
        data = self.OutputSerializer(page, many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_register",
        summary="Register a vehicle",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(description="Bad VIN (or already registered), seats or position."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vehicle = services.vehicle_register(**serializer.validated_data)
        vehicle = selectors.vehicle_get(vehicle_id=vehicle.id)
        return Response(self.OutputSerializer(vehicle).data, status=status.HTTP_201_CREATED)


class VehicleDetailApi(APIView):
    """One vehicle; its description (make, model, seats) may be corrected."""

    permission_classes = [IsFleetStaff]
    serializer_class = VehicleOutputSerializer

    # Status, mileage, position and firmware each have their own endpoint and rules.
    EDITABLE = frozenset({"make", "model", "seats"})

    class InputSerializer(serializers.Serializer):
        make = serializers.CharField(max_length=64, required=False)
        model = serializers.CharField(max_length=64, required=False)
        seats = serializers.IntegerField(min_value=SEATS_MIN, max_value=SEATS_MAX, required=False)

        class Meta:
            ref_name = "VehicleUpdate"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            unknown = sorted(set(self.initial_data) - VehicleDetailApi.EDITABLE)
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [
                            "Change the status with POST .../transitions/."
                            if name == "status"
                            else "This field cannot be changed here."
                        ]
                        for name in unknown
                    }
                )
            return attrs

    OutputSerializer = VehicleOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_retrieve",
        summary="Get a vehicle",
        responses={
            200: OutputSerializer,
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: VEHICLE_NOT_FOUND,
        },
    )
    def get(self, request: Request, vehicle_id: UUID) -> Response:
        vehicle = selectors.vehicle_get(vehicle_id=vehicle_id)
        return Response(self.OutputSerializer(vehicle).data)

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_update",
        summary="Correct a vehicle's make, model or seats",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Bad value, or a field that cannot be edited."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: VEHICLE_NOT_FOUND,
        },
    )
    def patch(self, request: Request, vehicle_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.vehicle_update(vehicle_id=vehicle_id, **serializer.validated_data)
        vehicle = selectors.vehicle_get(vehicle_id=vehicle_id)
        return Response(self.OutputSerializer(vehicle).data)


class VehicleTransitionApi(APIView):
    """Move a vehicle along its lifecycle."""

    permission_classes = [IsFleetStaff]
    serializer_class = VehicleOutputSerializer

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=VehicleStatus.choices,
            help_text=(
                "By hand a vehicle moves among available, charging, maintenance and offline; "
                "a reserved or travelling vehicle may only be taken offline."
            ),
        )
        reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)

        class Meta:
            ref_name = "VehicleTransition"

    OutputSerializer = VehicleOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_transition",
        summary="Change a vehicle's status",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Unknown status."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: VEHICLE_NOT_FOUND,
            409: OpenApiResponse(
                description=(
                    "The step is not one staff may take from this status "
                    "(`illegal_transition`), or a trip holds the vehicle and it may only go "
                    "offline until that trip ends (`vehicle_held_by_trip`, naming the trip)."
                )
            ),
        },
    )
    def post(self, request: Request, vehicle_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.vehicle_transition(
            vehicle_id=vehicle_id,
            status=serializer.validated_data["status"],
            reason=serializer.validated_data["reason"],
            changed_by_id=request.user.pk,
        )
        vehicle = selectors.vehicle_get(vehicle_id=vehicle_id)
        return Response(self.OutputSerializer(vehicle).data)


class VehicleHistoryApi(APIView):
    """A vehicle's status changes, newest first."""

    permission_classes = [IsFleetStaff]
    pagination_class = FleetPagination

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        from_status = serializers.ChoiceField(choices=VehicleStatus.choices)
        to_status = serializers.ChoiceField(choices=VehicleStatus.choices)
        reason = serializers.CharField()
        changed_by = serializers.UUIDField(source="changed_by_id", allow_null=True)
        at = serializers.DateTimeField()

        class Meta:
            ref_name = "VehicleStatusChange"

    serializer_class = OutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_history",
        summary="A vehicle's status history",
        responses={
            200: OutputSerializer(many=True),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: VEHICLE_NOT_FOUND,
        },
    )
    def get(self, request: Request, vehicle_id: UUID) -> Response:
        changes = selectors.vehicle_status_history(vehicle_id=vehicle_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(changes, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class TelemetryReadingInputSerializer(serializers.Serializer):
    """One reading of a telemetry batch."""

    recorded_at = serializers.DateTimeField()
    latitude = latitude_field()
    longitude = longitude_field()
    battery_pct = serializers.IntegerField(min_value=0, max_value=100)
    # No places limit: sensors send long floats, which the service rounds to what it stores.
    odometer_km = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        min_value=Decimal(0),
        max_value=ODOMETER_MAX_KM,
        help_text=f"Kilometres, 0 to {ODOMETER_MAX_KM}, rounded to 0.01.",
    )
    speed_kph = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        min_value=Decimal(0),
        max_value=SPEED_MAX_KPH,
        required=False,
        allow_null=True,
        default=None,
        help_text=f"Kilometres per hour, 0 to {SPEED_MAX_KPH}, rounded to 0.1.",
    )

    class Meta:
        ref_name = "VehicleTelemetryReading"


def readings_errors_as_list(errors: dict[str, Any], data: Any) -> dict[str, Any]:
    """Errors with one entry per reading sent (``{}`` for a good one), as the service gives.

    DRF 3.18 reports a list's errors as ``{index: errors}`` for the bad items only; a list
    in sending order is what the documented telemetry contract promises its clients.
    """
    problems = errors.get("readings")
    if isinstance(problems, dict) and problems and all(isinstance(key, int) for key in problems):
        sent = len(data.get("readings") or []) if isinstance(data, dict) else 0
        size = max(sent, max(problems) + 1)
        return {**errors, "readings": [problems.get(index, {}) for index in range(size)]}
    return dict(errors)


class VehicleTelemetryApi(APIView):
    """Readings a vehicle sends, in batches, possibly out of order."""

    permission_classes = [IsFleetStaff]

    class InputSerializer(serializers.Serializer):
        readings: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=TelemetryReadingInputSerializer(),
            min_length=1,
            max_length=TELEMETRY_BATCH_MAX,
            help_text=f"1 to {TELEMETRY_BATCH_MAX} readings of this vehicle, in any order.",
        )

        class Meta:
            ref_name = "VehicleTelemetryBatch"

    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField()

        class Meta:
            ref_name = "VehicleTelemetryAccepted"

    serializer_class = OutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_telemetry_ingest",
        summary="Send telemetry readings",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(
                description=(
                    "Empty or oversized batch, or bad readings: "
                    '{"readings": [{}, {"battery_pct": ["..."]}]} names each reading by index. '
                    "An odometer below the vehicle's (or an earlier reading's) is refused."
                )
            ),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: VEHICLE_NOT_FOUND,
        },
    )
    def post(self, request: Request, vehicle_id: UUID) -> Response:
        batch = self.InputSerializer(data=request.data)
        if not batch.is_valid():
            raise serializers.ValidationError(readings_errors_as_list(batch.errors, request.data))
        try:
            accepted = services.vehicle_telemetry_ingest(
                vehicle_id=vehicle_id,
                readings=[
                    TelemetryInput(**reading) for reading in batch.validated_data["readings"]
                ],
            )
        except TelemetryRejected as exc:
            raise serializers.ValidationError({"readings": exc.errors}) from None
        return Response(self.OutputSerializer({"accepted": accepted}).data)


class VehicleStatusCountsSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    reserved = serializers.IntegerField()
    in_trip = serializers.IntegerField()
    charging = serializers.IntegerField()
    maintenance = serializers.IntegerField()
    offline = serializers.IntegerField()

    class Meta:
        ref_name = "VehicleStatusCounts"


class FleetSummaryApi(APIView):
    """How the fleet is doing, at a glance."""

    permission_classes = [IsFleetStaff]

    class OutputSerializer(serializers.Serializer):
        by_status = VehicleStatusCountsSerializer(
            help_text="Vehicles in each status, zeros included."
        )
        low_battery = serializers.IntegerField(help_text="Vehicles below the low-battery level.")
        stale_heartbeat = serializers.IntegerField(
            help_text="Vehicles never heard from, or silent for too long."
        )
        total = serializers.IntegerField()

        class Meta:
            ref_name = "VehicleFleetSummary"

    serializer_class = OutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_summary",
        summary="Fleet status summary",
        responses={200: OutputSerializer, 401: UNAUTHENTICATED, 403: NOT_FLEET_STAFF},
    )
    def get(self, request: Request) -> Response:
        summary = selectors.fleet_status_summary()
        return Response(self.OutputSerializer(summary).data)


class FirmwareReleaseOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.CharField()
    notes = serializers.CharField()
    released_at = serializers.DateTimeField()
    vehicle_count = serializers.IntegerField(help_text="Vehicles running this release.")

    class Meta:
        ref_name = "FirmwareRelease"


class FirmwareReleaseListApi(APIView):
    """Firmware releases: the list, and publishing a new one."""

    permission_classes = [IsFleetStaff]
    pagination_class = FleetPagination
    serializer_class = FirmwareReleaseOutputSerializer

    class InputSerializer(serializers.Serializer):
        version = serializers.CharField(max_length=64)
        notes = serializers.CharField(required=False, default="", allow_blank=True)
        released_at = serializers.DateTimeField(required=False, default=None)

        class Meta:
            ref_name = "FirmwareReleaseCreate"

    OutputSerializer = FirmwareReleaseOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_firmware_list",
        summary="List firmware releases",
        responses={200: OutputSerializer(many=True), 401: UNAUTHENTICATED, 403: NOT_FLEET_STAFF},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.firmware_release_list(), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_firmware_create",
        summary="Publish a firmware release",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(description="Not a semantic version, or already released."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        release = services.firmware_release_create(**serializer.validated_data)
        release = selectors.firmware_release_list().get(pk=release.pk)
        return Response(self.OutputSerializer(release).data, status=status.HTTP_201_CREATED)


class VehicleFirmwareAssignApi(APIView):
    """Record that a vehicle now runs a firmware release."""

    permission_classes = [IsFleetStaff]
    serializer_class = VehicleOutputSerializer

    class InputSerializer(serializers.Serializer):
        version = serializers.CharField(max_length=64)

        class Meta:
            ref_name = "VehicleFirmwareAssign"

    OutputSerializer = VehicleOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="vehicles_firmware_assign",
        summary="Assign firmware to a vehicle",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="No firmware release has this version."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: VEHICLE_NOT_FOUND,
        },
    )
    def post(self, request: Request, vehicle_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.vehicle_firmware_assign(
            vehicle_id=vehicle_id,
            version=serializer.validated_data["version"],
            installed_by_id=request.user.pk,
        )
        vehicle = selectors.vehicle_get(vehicle_id=vehicle_id)
        return Response(self.OutputSerializer(vehicle).data)
