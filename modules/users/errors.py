"""The users module's domain errors; other modules import them from ``modules.users.api``."""

from monolith.platform.errors import Conflict, FleetError, NotFound


class RiderNotFound(NotFound):
    code = "rider_not_found"


class CreditHoldNotFound(NotFound):
    code = "credit_hold_not_found"


class InsufficientCredit(Conflict):
    code = "insufficient_credit"


class AlreadySignedIn(FleetError):
    """Sign-up by a caller who is signed in (403): one account per person, made signed out."""

    status = 403
    code = "already_signed_in"
