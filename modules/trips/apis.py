"""REST endpoints of the trips module, mounted at /api/v1/trips/.

Riders book (through the booking saga), follow and cancel their own trips, and follow their
bookings; the fleet's dispatch systems act as fleet staff to start trips, report positions
and complete them. Another rider's trip, or booking, is a 404.

Where two methods share a path (the trip collection, a trip's positions) one class serves both,
because Django routes by path; each method still has its own serializers and permissions.
"""

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.filters import OrderingFilter
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.trips import booking, selectors, services
from modules.trips.filters import BookingFilter, TripFilter
from modules.trips.models import (
    BOOKING_UNFINISHED_STATES,
    BookingSaga,
    BookingState,
    BookingStep,
    BookingStepAction,
    BookingStepOutcome,
    CancelledBy,
    CancelReason,
    Trip,
    TripPosition,
    TripStatus,
)
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
    cancelled_at = serializers.DateTimeField(
        allow_null=True, help_text="When the trip was cancelled or interrupted."
    )
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    cancel_reason = serializers.ChoiceField(
        choices=CancelReason.choices,
        allow_blank=True,
        help_text="Empty unless the trip was cancelled or interrupted; an interrupted trip's "
        "is vehicle_issue (its vehicle went offline).",
    )
    cancel_note = serializers.CharField(
        help_text="What happened, for an interrupted trip (before the pick-up or during the ride)."
    )
    cancelled_by = serializers.ChoiceField(
        choices=CancelledBy.choices,
        allow_blank=True,
        help_text="Empty unless the trip was cancelled; an interruption is nobody's doing.",
    )


@extend_schema_serializer(component_name="TripPosition")
class TripPositionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    trip_id = serializers.UUIDField()
    recorded_at = serializers.DateTimeField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6)


def _poll_later_header(*statuses: int) -> OpenApiParameter:
    """The ``Retry-After`` answer header, as ``_poll_later`` sets it, for the schema."""
    return OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        location=OpenApiParameter.HEADER,
        response=list(statuses),
        description="Seconds to wait before polling the booking again; sent while it is "
        "still running or compensating.",
    )


def _poll_later(response: Response, saga: BookingSaga) -> Response:
    """Tell the client when to poll again while the booking goes on by itself."""
    if saga.state in BOOKING_UNFINISHED_STATES:
        response["Retry-After"] = str(settings.FLEET_BOOKING_POLL_SECONDS)
    return response


def _booking_url(request: Request, booking_id: UUID) -> str:
    return request.build_absolute_uri(reverse("trips:booking-detail", args=[booking_id]))


def _trip_url(request: Request, trip_id: UUID) -> str:
    return request.build_absolute_uri(reverse("trips:trip-detail", args=[trip_id]))


@extend_schema_serializer(component_name="BookedTrip")
class BookedTripOutputSerializer(TripOutputSerializer):
    """The trip a booking created, with the booking that made it."""

    booking_id = serializers.SerializerMethodField()
    booking_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.UUID)
    def get_booking_id(self, trip: Trip) -> UUID:
        return self.context["booking"].id

    @extend_schema_field(OpenApiTypes.URI)
    def get_booking_url(self, trip: Trip) -> str:
        return _booking_url(self.context["request"], self.context["booking"].id)


@extend_schema_serializer(component_name="BookingStep")
class BookingStepOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="Order within the booking, from 1.")
    step = serializers.ChoiceField(choices=BookingStep.choices)
    action = serializers.ChoiceField(
        choices=BookingStepAction.choices, help_text="do, or undo (a compensation)."
    )
    outcome = serializers.ChoiceField(
        choices=BookingStepOutcome.choices,
        help_text="done; refused (the booking turns back); interrupted (tried again later).",
    )
    error_code = serializers.CharField(help_text="Empty unless the step failed.")
    error = serializers.CharField(help_text="Empty unless the step failed.")
    at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Booking")
class BookingOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    rider_id = serializers.UUIDField()
    state = serializers.ChoiceField(
        choices=BookingState.choices,
        help_text="running and compensating go on by themselves; confirmed, compensated and "
        "failed are final (failed: an undo was refused, staff look into it).",
    )
    step = serializers.ChoiceField(
        choices=BookingStep.choices,
        help_text="Running: the step to do next. Compensating: the step to undo next.",
    )
    trip_id = serializers.UUIDField(help_text="The trip's id; the trip exists once confirmed.")
    trip_url = serializers.SerializerMethodField()
    credit_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The credit the booking holds."
    )
    hold_id = serializers.UUIDField(allow_null=True, help_text="The credit hold, once placed.")
    vehicle_id = serializers.UUIDField(allow_null=True, help_text="The vehicle, once reserved.")
    failure_code = serializers.CharField(
        help_text="Why the booking turned back (insufficient_credit, no_vehicle_available, "
        "active_trip_exists, rider_deactivated, booking_unavailable...); empty otherwise."
    )
    failure_message = serializers.CharField()
    attempts = serializers.IntegerField(help_text="How many runs worked on the booking.")
    origin_latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    origin_longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    destination_latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    destination_longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    steps = BookingStepOutputSerializer(many=True, help_text="Every step attempt, in order.")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, saga: BookingSaga) -> str:
        return _booking_url(self.context["request"], saga.id)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_trip_url(self, saga: BookingSaga) -> str | None:
        if saga.state != BookingState.CONFIRMED:
            return None
        return _trip_url(self.context["request"], saga.trip_id)


@extend_schema_serializer(component_name="BookingRefusal")
class BookingRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the trip could not be booked.")
    code = serializers.CharField(
        help_text="insufficient_credit, no_vehicle_available, active_trip_exists, "
        "rider_deactivated..."
    )
    booking_id = serializers.UUIDField()
    booking_url = serializers.URLField(help_text="The booking, with its steps and their errors.")


def _trip_response(trip: Trip, *, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(TripOutputSerializer(trip).data, status=status_code)


class TripListRequestApi(GenericAPIView[Trip]):
    """GET: the trips the caller may see. POST: a rider books a trip (the booking saga)."""

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
        summary="Book a trip",
        description=(
            "Runs the booking: holds the rider's booking credit, reserves the nearest "
            "available vehicle, creates the trip. Each step is stored as it ends. Confirmed: "
            "201 with the trip, `assigned`, and a link to its booking. Refused: every step "
            "taken is undone (vehicle and credit released) and the answer is 409 with the "
            "reason. A module that did not answer: 202 with `Location` naming the booking, "
            "which goes on by itself; poll it."
        ),
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Location",
                OpenApiTypes.URI,
                location=OpenApiParameter.HEADER,
                response=[201, 202],
                description="201: the trip. 202: the booking to poll.",
            ),
            _poll_later_header(202),
        ],
        responses={
            201: BookedTripOutputSerializer,
            202: OpenApiResponse(
                response=BookingOutputSerializer,
                description="The booking is still running; poll `Location` after "
                "`Retry-After` seconds.",
            ),
            400: OpenApiResponse(
                description="A coordinate is missing or out of range, or origin equals "
                "destination; the body names the field. No booking is made."
            ),
            401: UNAUTHENTICATED,
            403: OpenApiResponse(description="The caller does not hold the rider role."),
            409: OpenApiResponse(
                response=BookingRefusalSerializer,
                description="Refused, nothing left reserved: not enough credit "
                "(`insufficient_credit`), no vehicle available (`no_vehicle_available`), the "
                "rider already has an active trip (`active_trip_exists`) or was deactivated "
                "(`rider_deactivated`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = booking.booking_run(rider_id=_caller_id(request), **serializer.validated_data)
        return _booking_outcome_response(request, run)


def _booking_outcome_response(request: Request, run: booking.BookingRun) -> Response:
    """201 with the trip, 409 with the refusal, or 202 pointing at the booking."""
    saga = run.saga
    if saga.state == BookingState.CONFIRMED:
        trip = run.trip or selectors.trip_get(trip_id=saga.trip_id)
        body = BookedTripOutputSerializer(trip, context={"request": request, "booking": saga})
        response = Response(body.data, status=status.HTTP_201_CREATED)
        response["Location"] = _trip_url(request, trip.id)
        return response
    if saga.state in (BookingState.COMPENSATED, BookingState.FAILED):
        refusal = {
            "detail": saga.failure_message,
            "code": saga.failure_code,
            "booking_id": saga.id,
            "booking_url": _booking_url(request, saga.id),
        }
        return Response(BookingRefusalSerializer(refusal).data, status=status.HTTP_409_CONFLICT)
    saga = selectors.booking_get(booking_id=saga.id)
    response = Response(
        BookingOutputSerializer(saga, context={"request": request}).data,
        status=status.HTTP_202_ACCEPTED,
    )
    response["Location"] = _booking_url(request, saga.id)
    return _poll_later(response, saga)


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


class BookingListApi(GenericAPIView[BookingSaga]):
    """The bookings the caller may see, with their steps."""

    permission_classes = [IsAuthenticated]
    filter_backends = [DjangoFilterBackend]
    filterset_class = BookingFilter
    OutputSerializer = BookingOutputSerializer

    def get_queryset(self) -> QuerySet[BookingSaga]:
        if getattr(self, "swagger_fake_view", False):
            return BookingSaga.objects.none()
        return selectors.booking_list(rider_id=_viewer_rider_id(self.request))

    @extend_schema(
        tags=TAGS,
        operation_id="trips_bookings_list",
        summary="List bookings",
        description=(
            "A rider sees their own bookings; fleet staff see every one. Newest first, each "
            "with its steps and their errors. Book with `POST /api/v1/trips/`."
        ),
        responses={
            200: BookingOutputSerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid; the body names it."),
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="The page does not exist."),
        },
    )
    def get(self, request: Request) -> Response:
        bookings = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(bookings)
        return self.get_paginated_response(
            self.OutputSerializer(page, many=True, context={"request": request}).data
        )


class BookingDetailApi(APIView):
    permission_classes = [IsAuthenticated]
    OutputSerializer = BookingOutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="trips_bookings_retrieve",
        summary="One booking",
        description=(
            "Where the booking stands: its state, the step it is at, every step attempt with "
            "its error, and the trip once confirmed. Poll it after a 202 from the booking; "
            "while it goes on, `Retry-After` says when to look again."
        ),
        parameters=[_poll_later_header(200)],
        responses={
            200: BookingOutputSerializer,
            401: UNAUTHENTICATED,
            404: OpenApiResponse(
                description="No such booking, or it is another rider's (riders only see their own)."
            ),
        },
    )
    def get(self, request: Request, booking_id: UUID) -> Response:
        saga = selectors.booking_get(booking_id=booking_id, rider_id=_viewer_rider_id(request))
        response = Response(self.OutputSerializer(saga, context={"request": request}).data)
        return _poll_later(response, saga)
