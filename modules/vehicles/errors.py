"""The vehicles module's domain errors; ``api.py`` re-exports the ones other modules catch."""

from monolith.platform.errors import Conflict, InvalidRequest, NotFound


class VehicleNotFound(NotFound):
    code = "vehicle_not_found"


class NoVehicleAvailable(Conflict):
    code = "no_vehicle_available"


class VehicleHeldByTrip(Conflict):
    """The vehicle belongs to a trip other than the one asking (or to a trip at all).

    A vehicle a trip holds moves only through that trip's steps; the message names the trip,
    which must be completed or cancelled before the vehicle is free again.
    """

    code = "vehicle_held_by_trip"


class TelemetryRejected(InvalidRequest):
    """Some readings of a batch are not acceptable; nothing of the batch was stored.

    ``errors`` holds one dict per reading, in the order sent (empty for a good reading), each
    mapping a field to its problems, the shape DRF gives for a list of objects.
    """

    code = "telemetry_rejected"

    def __init__(self, errors: list[dict[str, list[str]]]) -> None:
        bad = sum(1 for problems in errors if problems)
        super().__init__(f"{bad} of {len(errors)} readings were rejected.", field="readings")
        self.errors = errors
