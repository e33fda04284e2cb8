"""Domain errors that every module raises and the REST layer turns into HTTP answers.

A module's services raise these; views never build error responses by hand. Each error carries
a stable ``code`` for API clients and a sentence a person can act on.
"""


class FleetError(Exception):
    """Base of every domain error; ``status`` is the HTTP status it maps to."""

    status = 400
    code = "invalid"
    # Seconds a client should wait before trying again; sent as Retry-After when set.
    retry_after: int | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(FleetError):
    """The input is well-formed but not acceptable (400); ``field`` names the culprit."""

    status = 400
    code = "invalid"


class NotFound(FleetError):
    """The thing does not exist, or the caller may not know that it does (404)."""

    status = 404
    code = "not_found"


class IllegalTransition(FleetError):
    """A lifecycle step that the current state does not allow (409)."""

    status = 409
    code = "illegal_transition"


class Conflict(FleetError):
    """The request clashes with the current state of things, for example no funds (409)."""

    status = 409
    code = "conflict"


class ServiceUnavailable(FleetError):
    """Something the request needs is down; nothing was done, try again later (503)."""

    status = 503
    code = "unavailable"
    retry_after = 30
