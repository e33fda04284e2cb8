"""REST API of the users module: sign-up, the signed-in rider's profile and wallet, staff views.

Riders read their wallet and ledger but cannot add credit themselves: credit arrives only
through billing (``api.credit_top_up`` after a card payment) or a fleet staff adjustment.
Views are thin: parse the input, call one service or selector, serialize the answer.
"""

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from modules.users import selectors, services
from modules.users.accounts import Account
from modules.users.errors import AlreadySignedIn, RiderNotFound
from modules.users.filters import LedgerEntryFilter, RiderFilter
from modules.users.models import LedgerEntry, Rider, e164_validator
from monolith.platform.access import IsFleetStaff
from monolith.platform.errors import NotFound
from monolith.platform.rest import NOT_FLEET_STAFF, UNAUTHENTICATED, FleetPagination

TAGS = ["users"]

NO_PROFILE = OpenApiResponse(description="The signed-in account has no rider profile.")


class RiderSignUpThrottle(SimpleRateThrottle):
    """Slows down scripted sign-ups: ten per minute from one client address.

    Keyed by the address alone, signed in or not, so a token buys no extra sign-ups (DRF's
    ``AnonRateThrottle`` would wave every authenticated caller through).
    """

    scope = "users-sign-up"
    rate = "10/min"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _own_rider(request: Request) -> Rider:
    """The signed-in account's rider profile; 404 when the account is not a rider."""
    message = "This account has no rider profile. Sign up as a rider at /api/v1/users/riders/."
    user_id = request.user.pk
    if user_id is None:
        raise NotFound(message)
    try:
        rider = services.rider_provision(user_id=user_id)
    except RiderNotFound:
        raise NotFound(message) from None
    # The signed-in account is the rider's: no need to read it again.
    rider.account = Account.of(request.user)
    return rider


# Shapes shared by several endpoints; each has a project-wide unique component name.


class PreferencesSerializer(serializers.Serializer):
    notify_by_email = serializers.BooleanField(required=False)
    notify_by_sms = serializers.BooleanField(required=False)
    notify_by_push = serializers.BooleanField(required=False)
    wheelchair_accessible = serializers.BooleanField(required=False)
    quiet_ride = serializers.BooleanField(required=False)
    marketing_opt_in = serializers.BooleanField(required=False)

    class Meta:
        ref_name = "UsersRiderPreferences"


class RiderProfileSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField(source="account.username")
    email = serializers.EmailField(source="account.email")
    display_name = serializers.CharField()
    phone = serializers.CharField()
    preferred_language = serializers.ChoiceField(choices=Rider.Language.choices)
    home_city = serializers.CharField()
    preferences = PreferencesSerializer(source="*")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "UsersRiderProfile"


class WalletSerializer(serializers.Serializer):
    available = serializers.DecimalField(max_digits=12, decimal_places=2)
    held = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()

    class Meta:
        ref_name = "UsersWallet"


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sequence = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(source="wallet.currency")
    available_after = serializers.DecimalField(max_digits=12, decimal_places=2)
    held_after = serializers.DecimalField(max_digits=12, decimal_places=2)
    reference = serializers.CharField()
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "UsersLedgerEntry"


class RiderListApi(GenericAPIView):
    """``GET``: fleet staff list riders. ``POST``: anyone signs up as a rider."""

    pagination_class = FleetPagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = RiderFilter
    ordering_fields = ["created_at", "display_name", "home_city"]

    class SignUpInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        email = serializers.EmailField()
        password = serializers.CharField(
            write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )
        display_name = serializers.CharField(max_length=100)

        class Meta:
            ref_name = "UsersRiderSignUp"

    class ListOutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        username = serializers.CharField(source="account.username")
        email = serializers.EmailField(source="account.email")
        display_name = serializers.CharField()
        home_city = serializers.CharField()
        is_active = serializers.BooleanField(source="account.is_active")
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "UsersRiderListItem"

    serializer_class = ListOutputSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [AllowAny()]
        return [IsAuthenticated(), IsFleetStaff()]

    def get_throttles(self) -> list[BaseThrottle]:
        if self.request.method == "POST":
            return [RiderSignUpThrottle()]
        return super().get_throttles()

    def get_queryset(self) -> Any:
        return selectors.rider_list()

    @extend_schema(
        tags=TAGS,
        operation_id="users_riders_list",
        summary="List riders (fleet staff)",
        description="Riders newest first; search matches username, email or display name.",
        responses={
            200: ListOutputSerializer(many=True),
            400: OpenApiResponse(description="A filter value is not acceptable."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
        },
    )
    def get(self, request: Request) -> Response:
        riders = self.filter_queryset(self.get_queryset())
        # The page's accounts in one query: they may live in another database.
        page = selectors.riders_with_accounts(self.paginate_queryset(riders) or [])
        return self.get_paginated_response(self.ListOutputSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="users_riders_sign_up",
        summary="Sign up as a rider",
        description="Creates an account with the rider role, its profile and an empty wallet. "
        "The password must pass the password validators; it is never returned.",
        request=SignUpInputSerializer,
        responses={
            201: RiderProfileSerializer,
            400: OpenApiResponse(
                description="A field is missing or unacceptable: username or email taken, "
                "password too weak (the body names the field)."
            ),
            403: OpenApiResponse(
                description="The caller is signed in (code already_signed_in): accounts are "
                "made signed out, one per person."
            ),
            429: OpenApiResponse(
                description="Too many sign-ups from this address, signed in or not; wait."
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        # Refused here rather than by a permission class so that the throttle, which runs
        # after permissions, counts these attempts against the address too.
        if request.user.is_authenticated:
            raise AlreadySignedIn(
                "You are signed in already; sign out before creating another rider account."
            )
        serializer = self.SignUpInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rider = services.rider_register(**serializer.validated_data)
        return Response(RiderProfileSerializer(rider).data, status=status.HTTP_201_CREATED)


class RiderDetailApi(APIView):
    """A rider's profile and wallet, for fleet staff."""

    permission_classes = [IsAuthenticated, IsFleetStaff]

    class OutputSerializer(RiderProfileSerializer):
        is_active = serializers.BooleanField(source="account.is_active")
        # None for a profile whose wallet was never created.
        wallet = WalletSerializer(allow_null=True)

        class Meta:
            ref_name = "UsersRiderStaffDetail"

    serializer_class = OutputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="users_riders_retrieve",
        summary="A rider's profile and wallet (fleet staff)",
        responses={
            200: OutputSerializer,
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: OpenApiResponse(description="No rider with this id."),
        },
    )
    def get(self, request: Request, rider_id: Any) -> Response:
        rider = selectors.rider_get(rider_id=rider_id)
        return Response(self.OutputSerializer(rider).data)


class RiderWalletAdjustmentApi(APIView):
    """Fleet staff credit (positive amount) or debit (negative) a rider's wallet, with a memo."""

    permission_classes = [IsAuthenticated, IsFleetStaff]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        memo = serializers.CharField(max_length=255)

        class Meta:
            ref_name = "UsersWalletAdjustment"

    serializer_class = InputSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="users_riders_wallet_adjustments_create",
        summary="Adjust a rider's credit (fleet staff)",
        request=InputSerializer,
        responses={
            201: LedgerEntrySerializer,
            400: OpenApiResponse(description="Amount zero or malformed, or memo missing."),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: OpenApiResponse(description="No rider with this id."),
            409: OpenApiResponse(description="The debit is larger than the available credit."),
        },
    )
    def post(self, request: Request, rider_id: Any) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rider = selectors.rider_get(rider_id=rider_id)
        entry = services.wallet_adjust(
            rider_id=rider.id,
            amount=serializer.validated_data["amount"],
            memo=serializer.validated_data["memo"],
            created_by=request.user,
        )
        return Response(LedgerEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    """The signed-in rider's profile and preferences."""

    class UpdateInputSerializer(serializers.Serializer):
        display_name = serializers.CharField(max_length=100)
        phone = serializers.CharField(max_length=16, allow_blank=True, validators=[e164_validator])
        preferred_language = serializers.ChoiceField(choices=Rider.Language.choices)
        home_city = serializers.CharField(max_length=100, allow_blank=True)
        preferences = PreferencesSerializer(source="*")

        class Meta:
            ref_name = "UsersRiderProfileUpdate"

    serializer_class = RiderProfileSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="users_me_retrieve",
        summary="My rider profile",
        responses={200: RiderProfileSerializer, 401: UNAUTHENTICATED, 404: NO_PROFILE},
    )
    def get(self, request: Request) -> Response:
        return Response(RiderProfileSerializer(_own_rider(request)).data)

    @extend_schema(
        tags=TAGS,
        operation_id="users_me_partial_update",
        summary="Change my rider profile and preferences",
        request=UpdateInputSerializer,
        responses={
            200: RiderProfileSerializer,
            400: OpenApiResponse(description="A field is not acceptable (the body names it)."),
            401: UNAUTHENTICATED,
            404: NO_PROFILE,
        },
    )
    def patch(self, request: Request) -> Response:
        rider = _own_rider(request)
        serializer = self.UpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rider = services.rider_update(rider=rider, data=dict(serializer.validated_data))
        return Response(RiderProfileSerializer(rider).data)


class MeWalletApi(APIView):
    """The signed-in rider's credit balances (read-only: credit is bought through billing)."""

    serializer_class = WalletSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="users_me_wallet_retrieve",
        summary="My wallet",
        responses={200: WalletSerializer, 401: UNAUTHENTICATED, 404: NO_PROFILE},
    )
    def get(self, request: Request) -> Response:
        wallet = services.wallet_ensure(rider=_own_rider(request))
        return Response(WalletSerializer(wallet).data)


class MeLedgerApi(GenericAPIView):
    """The signed-in rider's ledger, newest entry first."""

    pagination_class = FleetPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = LedgerEntryFilter
    serializer_class = LedgerEntrySerializer
    # Tells the schema and the filter backend the model; the rows come from the selector.
    queryset = LedgerEntry.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="users_me_wallet_ledger_list",
        summary="My ledger",
        responses={
            200: LedgerEntrySerializer(many=True),
            400: OpenApiResponse(description="The kind filter is not a ledger entry kind."),
            401: UNAUTHENTICATED,
            404: NO_PROFILE,
        },
    )
    def get(self, request: Request) -> Response:
        wallet = services.wallet_ensure(rider=_own_rider(request))
        entries = self.filter_queryset(
            selectors.ledger_entry_list(wallet=wallet).select_related("wallet")
        )
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(LedgerEntrySerializer(page, many=True).data)
