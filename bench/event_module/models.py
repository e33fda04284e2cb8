from monolith.platform.outbox.models import InboxEntry, OutboxMessage, ParkedDeliveryBase


class Outbox(OutboxMessage):
    """Beacons emitted, waiting for the relay."""


class Inbox(InboxEntry):
    """Beacons handled: ``processed_at`` minus the outbox's ``occurred_at`` is the delay."""


class ParkedDelivery(ParkedDeliveryBase):
    """Beacons whose delivery failed every attempt (none should)."""
