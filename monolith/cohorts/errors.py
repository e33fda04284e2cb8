"""Errors of cohort routing, on top of the platform's (``monolith.platform.errors``)."""

from monolith.platform.errors import FleetError


class RoutingForbidden(FleetError):
    """The person (or the path taken) may not change routing (403)."""

    status = 403
    code = "forbidden"
