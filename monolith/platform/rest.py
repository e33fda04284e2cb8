"""REST plumbing shared by every module: pagination and the mapping of domain errors."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler

from monolith.platform.errors import FleetError

# The answers every protected endpoint may give, documented once for the OpenAPI description.
UNAUTHENTICATED = OpenApiResponse(description="No token, or an invalid one (sign in first).")
NOT_FLEET_STAFF = OpenApiResponse(description="Signed in, but only fleet staff may do this.")


class FleetPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def fleet_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus domain errors (400/404/409) and model validation errors (400).

    Domain errors answer ``{"detail": ..., "code": ...}`` and, when one field is at fault,
    ``{"<field>": [...]}`` as DRF's own validation errors do, so clients parse one shape.
    """
    if isinstance(exc, FleetError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body[exc.field] = [exc.message]
        response = Response(body, status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


def api_aware_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for unknown URLs: JSON under /api/ (clients parse it), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": f"No API endpoint matches {request.path}.", "code": "not_found"},
            status=404,
        )
    return page_not_found(request, exception)
