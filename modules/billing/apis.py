"""REST endpoints of the billing module (mounted at /api/v1/billing/)."""

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.billing import selectors, services
from modules.billing.filters import InvoiceFilter, PaymentFilter
from modules.billing.models import (
    CreditPurchase,
    Invoice,
    InvoiceLine,
    Payment,
    Refund,
    Tariff,
)
from monolith.platform.access import IsFleetStaff, IsFleetStaffOrReadOnly
from monolith.platform.rest import NOT_FLEET_STAFF, UNAUTHENTICATED

TAGS = ["billing"]

BAD_REQUEST = OpenApiResponse(description="Invalid input; the body names each faulty field.")
GATEWAY_DOWN = "The payment provider is unavailable; nothing was {what}. Retry after Retry-After."
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[503],
    description="Seconds to wait before retrying.",
)


def _signed_in(request: Request) -> AbstractBaseUser:
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        raise NotAuthenticated()
    return user


def _user_id(request: Request) -> UUID:
    return UUID(str(_signed_in(request).pk))


def _price_field(name: str, *, required: bool = True) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=services.TARIFF_PRICE_MAXIMUMS[name],
        required=required,
    )


# Shared output shapes -----------------------------------------------------------------------


class TariffSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    currency = serializers.CharField()
    base_fare = serializers.DecimalField(max_digits=12, decimal_places=2)
    per_km = serializers.DecimalField(max_digits=12, decimal_places=2)
    per_minute = serializers.DecimalField(max_digits=12, decimal_places=2)
    minimum_fare = serializers.DecimalField(max_digits=12, decimal_places=2)
    effective_from = serializers.DateTimeField()
    effective_to = serializers.DateTimeField(
        allow_null=True, help_text="Exclusive end; null while the tariff is open-ended."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "BillingTariff"


class InvoiceLineSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=InvoiceLine.Kind.choices)
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ref_name = "BillingInvoiceLine"


class InvoiceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    trip_id = serializers.UUIDField()
    rider_id = serializers.UUIDField()
    tariff_id = serializers.UUIDField()
    currency = serializers.CharField()
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.ChoiceField(choices=Invoice.Status.choices)
    trip_distance_km = serializers.DecimalField(max_digits=10, decimal_places=3)
    trip_duration_seconds = serializers.IntegerField()
    trip_completed_at = serializers.DateTimeField()
    issued_at = serializers.DateTimeField()
    lines = InvoiceLineSerializer(many=True)

    class Meta:
        ref_name = "BillingInvoice"


class RefundSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=Refund.Status.choices)
    gateway_refund_id = serializers.CharField()
    created_by_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "BillingRefund"


class PaymentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    invoice_id = serializers.UUIDField()
    invoice_number = serializers.CharField(source="invoice.number")
    invoice_status = serializers.ChoiceField(
        source="invoice.status",
        choices=Invoice.Status.choices,
        help_text="The invoice's status after this payment.",
    )
    rider_id = serializers.UUIDField(source="invoice.rider_id")
    attempt = serializers.IntegerField()
    # DRF's metaclass takes declared fields off the class, so this never hides Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Payment.Source.choices,
        help_text="card: charged to the card on file; wallet: credit the trip's booking held, "
        "taken after a card attempt failed.",
    )
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Payment.Status.choices)
    gateway_charge_id = serializers.CharField()
    failure_code = serializers.CharField(
        help_text="Why it failed: no_payment_method, card_declined, insufficient_funds, "
        "expired_card, invalid_card_token, ...; empty on success."
    )
    failure_message = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "BillingPayment"


# Tariffs ------------------------------------------------------------------------------------


class TariffListApi(ListAPIView):
    """Tariffs, newest period first; any signed-in user may read them, staff create them."""

    permission_classes = [IsFleetStaffOrReadOnly]
    serializer_class = TariffSerializer
    ordering_fields = ["effective_from", "name"]
    ordering = ["-effective_from"]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        base_fare = _price_field("base_fare")
        per_km = _price_field("per_km")
        per_minute = _price_field("per_minute")
        minimum_fare = _price_field("minimum_fare")
        effective_from = serializers.DateTimeField()
        effective_to = serializers.DateTimeField(
            required=False, allow_null=True, help_text="Exclusive end; omit for open-ended."
        )

        class Meta:
            ref_name = "BillingTariffCreate"

    OutputSerializer = TariffSerializer

    def get_queryset(self) -> QuerySet[Tariff]:
        return selectors.tariff_list()

    @extend_schema(
        tags=TAGS,
        summary="List tariffs",
        responses={200: TariffSerializer(many=True), 401: UNAUTHENTICATED},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        summary="Create a tariff (staff)",
        request=InputSerializer,
        responses={
            201: TariffSerializer,
            400: OpenApiResponse(
                description="Invalid input (prices above 1000.00 for base_fare and "
                "minimum_fare, 100.00 for per_km and per_minute), effective_to not after "
                "effective_from, or a period overlapping another tariff's (names effective_from)."
            ),
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tariff = services.tariff_create(**serializer.validated_data)
        return Response(self.OutputSerializer(tariff).data, status=status.HTTP_201_CREATED)


class TariffCurrentApi(APIView):
    """The tariff in force right now."""

    permission_classes = [IsAuthenticated]
    OutputSerializer = TariffSerializer

    @extend_schema(
        tags=TAGS,
        summary="The tariff in force now",
        responses={
            200: TariffSerializer,
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="No tariff is in force now."),
        },
    )
    def get(self, request: Request) -> Response:
        tariff = selectors.tariff_current(at=timezone.now())
        return Response(self.OutputSerializer(tariff).data)


class TariffDetailApi(APIView):
    permission_classes = [IsFleetStaffOrReadOnly]
    OutputSerializer = TariffSerializer

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        base_fare = _price_field("base_fare", required=False)
        per_km = _price_field("per_km", required=False)
        per_minute = _price_field("per_minute", required=False)
        minimum_fare = _price_field("minimum_fare", required=False)
        effective_from = serializers.DateTimeField(required=False)
        effective_to = serializers.DateTimeField(required=False, allow_null=True)

        class Meta:
            ref_name = "BillingTariffUpdate"

    @extend_schema(
        tags=TAGS,
        summary="A tariff",
        responses={
            200: TariffSerializer,
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="No such tariff."),
        },
    )
    def get(self, request: Request, tariff_id: UUID) -> Response:
        tariff = selectors.tariff_get(tariff_id=tariff_id)
        return Response(self.OutputSerializer(tariff).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a tariff (staff)",
        request=InputSerializer,
        responses={
            200: TariffSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: OpenApiResponse(description="No such tariff."),
            409: OpenApiResponse(
                description="The tariff has priced invoices: its prices and start are fixed, "
                "and it cannot close before the last trip it priced."
            ),
        },
    )
    def patch(self, request: Request, tariff_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tariff = services.tariff_update(tariff_id=tariff_id, data=serializer.validated_data)
        return Response(self.OutputSerializer(tariff).data)


# Invoices -----------------------------------------------------------------------------------


class InvoiceListApi(ListAPIView):
    """Invoices, newest first: a rider's own, or everyone's for staff."""

    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    ordering_fields = ["issued_at", "total", "number"]
    ordering = ["-issued_at", "-number"]

    def get_queryset(self) -> QuerySet[Invoice]:
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        return selectors.invoice_list(user=self.request.user)

    @extend_schema(
        tags=TAGS,
        summary="List invoices",
        responses={
            200: InvoiceSerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid; the body names it."),
            401: UNAUTHENTICATED,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class InvoiceDetailApi(APIView):
    OutputSerializer = InvoiceSerializer

    @extend_schema(
        tags=TAGS,
        summary="An invoice with its lines",
        responses={
            200: InvoiceSerializer,
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="No such invoice, or another rider's."),
        },
    )
    def get(self, request: Request, invoice_id: UUID) -> Response:
        invoice = selectors.invoice_get(invoice_id=invoice_id, user=request.user)
        return Response(self.OutputSerializer(invoice).data)


class InvoicePayApi(APIView):
    """Collect an issued or failed invoice now, with the rider's card on file."""

    OutputSerializer = PaymentSerializer

    @extend_schema(
        tags=TAGS,
        summary="Pay an invoice",
        request=None,
        parameters=[RETRY_AFTER],
        responses={
            200: OpenApiResponse(
                response=PaymentSerializer,
                description="The attempt made: status succeeded (invoice paid) or failed "
                "(invoice payment_failed, with failure_code).",
            ),
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="No such invoice, or another rider's."),
            409: OpenApiResponse(
                description="The invoice is already paid, refunded or void, or an earlier "
                "attempt must be reconciled first."
            ),
            503: OpenApiResponse(description=GATEWAY_DOWN.format(what="charged")),
        },
    )
    def post(self, request: Request, invoice_id: UUID) -> Response:
        selectors.invoice_get(invoice_id=invoice_id, user=request.user)
        payment = services.invoice_collect_payment(invoice_id=invoice_id)
        return Response(self.OutputSerializer(payment).data)


# Payment method -----------------------------------------------------------------------------


class PaymentMethodMeApi(APIView):
    """The signed-in rider's card on file."""

    class InputSerializer(serializers.Serializer):
        card_token = serializers.CharField(
            max_length=255, help_text="The payment provider's card token (tok_...)."
        )

        class Meta:
            ref_name = "BillingPaymentMethodSet"

    class OutputSerializer(serializers.Serializer):
        rider_id = serializers.UUIDField()
        brand = serializers.CharField()
        last4 = serializers.CharField()
        updated_at = serializers.DateTimeField()

        class Meta:
            ref_name = "BillingPaymentMethod"

    @extend_schema(
        tags=TAGS,
        summary="My payment method",
        responses={
            200: OutputSerializer,
            401: UNAUTHENTICATED,
            404: OpenApiResponse(description="No payment method is on file."),
        },
    )
    def get(self, request: Request) -> Response:
        method = selectors.payment_method_get(rider_id=_user_id(request))
        return Response(self.OutputSerializer(method).data)

    @extend_schema(
        tags=TAGS,
        summary="Set my payment method",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(
                description="card_token is blank or not a provider token (tok_...)."
            ),
            401: UNAUTHENTICATED,
        },
    )
    def put(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = services.payment_method_set(
            rider_id=_user_id(request), card_token=serializer.validated_data["card_token"]
        )
        return Response(self.OutputSerializer(method).data)


# Payments and refunds -----------------------------------------------------------------------


class PaymentListApi(ListAPIView):
    """Payment attempts, newest first: a rider's own, or everyone's for staff."""

    filterset_class = PaymentFilter
    ordering_fields = ["created_at", "amount"]
    ordering = ["-created_at", "-attempt"]

    class OutputSerializer(PaymentSerializer):
        refunded_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        refunds = RefundSerializer(many=True)

        class Meta:
            ref_name = "BillingPaymentWithRefunds"

    serializer_class = OutputSerializer

    def get_queryset(self) -> QuerySet[Payment]:
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return selectors.payment_list(user=self.request.user)

    @extend_schema(
        tags=TAGS,
        summary="List payments",
        responses={
            200: OutputSerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid; the body names it."),
            401: UNAUTHENTICATED,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PaymentRefundCreateApi(APIView):
    """Give money back on a payment, in part or in full (staff)."""

    permission_classes = [IsFleetStaff]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(
            max_digits=12, decimal_places=2, min_value=Decimal("0.01")
        )
        reason = serializers.CharField(max_length=255)

        class Meta:
            ref_name = "BillingRefundCreate"

    class OutputSerializer(RefundSerializer):
        invoice_status = serializers.ChoiceField(
            source="payment.invoice.status",
            choices=Invoice.Status.choices,
            help_text="partially_refunded or refunded.",
        )

        class Meta:
            ref_name = "BillingRefundCreated"

    @extend_schema(
        tags=TAGS,
        summary="Refund a payment (staff)",
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={
            201: OutputSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: NOT_FLEET_STAFF,
            404: OpenApiResponse(description="No such payment."),
            409: OpenApiResponse(
                description="More than is left to refund, a failed payment, or an invoice "
                "that is not paid."
            ),
            503: OpenApiResponse(description=GATEWAY_DOWN.format(what="refunded")),
        },
    )
    def post(self, request: Request, payment_id: UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund = services.payment_refund(
            payment_id=payment_id,
            amount=serializer.validated_data["amount"],
            reason=serializer.validated_data["reason"],
            by_id=_user_id(request),
        )
        return Response(self.OutputSerializer(refund).data, status=status.HTTP_201_CREATED)


# Credit purchases ---------------------------------------------------------------------------


class CreditPurchaseMeApi(ListAPIView):
    """Wallet credit the signed-in rider buys with their card on file."""

    ordering_fields = ["created_at", "amount"]
    ordering = ["-created_at", "-id"]

    class InputSerializer(serializers.Serializer):
        amount = serializers.DecimalField(
            max_digits=12,
            decimal_places=2,
            min_value=services.CREDIT_PURCHASE_MINIMUM,
            max_value=services.CREDIT_PURCHASE_MAXIMUM,
        )
        idempotency_key = serializers.CharField(
            max_length=services.IDEMPOTENCY_KEY_MAX_LENGTH,
            help_text="Generated by the client once per purchase; repeating a request with the "
            "same key returns the first result and charges nothing more.",
        )

        class Meta:
            ref_name = "BillingCreditPurchaseCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        currency = serializers.CharField()
        status = serializers.ChoiceField(
            choices=CreditPurchase.Status.choices,
            help_text="charged: the card was charged and the wallet is about to be credited "
            "(repeat the request to finish); succeeded: credited; failed: declined.",
        )
        failure_code = serializers.CharField(
            help_text="Why the card was declined (card_declined, insufficient_funds, ...); "
            "empty otherwise."
        )
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "BillingCreditPurchase"

    serializer_class = OutputSerializer

    def get_queryset(self) -> QuerySet[CreditPurchase]:
        if getattr(self, "swagger_fake_view", False):
            return CreditPurchase.objects.none()
        return selectors.credit_purchase_list(rider_id=_user_id(self.request))

    @extend_schema(
        tags=TAGS,
        summary="List my credit purchases",
        responses={200: OutputSerializer(many=True), 401: UNAUTHENTICATED},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        summary="Buy wallet credit with my card",
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={
            201: OpenApiResponse(
                response=OutputSerializer,
                description="Charged and credited to the wallet.",
            ),
            200: OpenApiResponse(
                response=OutputSerializer,
                description="The idempotency_key was used before: the first purchase, "
                "nothing charged again.",
            ),
            400: OpenApiResponse(
                description=f"amount outside {services.CREDIT_PURCHASE_MINIMUM}.."
                f"{services.CREDIT_PURCHASE_MAXIMUM} or not in cents, or a blank or over-long "
                "idempotency_key; the body names the field."
            ),
            401: UNAUTHENTICATED,
            402: OpenApiResponse(
                description="The card was declined; code is the provider's reason "
                "(card_declined, insufficient_funds, ...). The purchase is recorded as failed."
            ),
            404: OpenApiResponse(description="The signed-in account is not a rider."),
            409: OpenApiResponse(
                description="No card on file (code no_payment_method, names card_token), or "
                "the idempotency_key was used for another amount (names idempotency_key)."
            ),
            503: OpenApiResponse(description=GATEWAY_DOWN.format(what="charged")),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase, created = services.credit_purchase_create(
            rider_id=_user_id(request), **serializer.validated_data
        )
        return Response(
            self.OutputSerializer(purchase).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
