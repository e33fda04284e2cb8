"""The users module's domain errors; other modules import them from ``modules.users.api``."""

from monolith.platform.errors import Conflict, NotFound


class RiderNotFound(NotFound):
    code = "rider_not_found"


class CreditHoldNotFound(NotFound):
    code = "credit_hold_not_found"


class InsufficientCredit(Conflict):
    code = "insufficient_credit"
