"""Abstract outbox, inbox and parked-delivery tables; each module declares its concrete ones.

A module that publishes declares ``class Outbox(OutboxMessage)`` in its ``models.py``; one that
subscribes declares ``class Inbox(InboxEntry)`` and ``class ParkedDelivery(ParkedDeliveryBase)``.
The platform finds them by app label and class name (``monolith.platform.outbox.tables``), so
each table lives on its module's database and moves with it (decision 0006).
"""

import uuid

from django.db import models


class OutboxMessage(models.Model):
    """An event written in its publisher's transaction, waiting for the relay."""

    # The event id: deliveries and inboxes refer to it.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    version = models.PositiveSmallIntegerField(default=1)
    aggregate_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    # When the relay last handed it to the broker (again, if the sweep resent it).
    relayed_at = models.DateTimeField(null=True, blank=True)
    # When every subscriber was seen to have it in its inbox, or parked: until then the sweep
    # sends the missing deliveries again (a broker can lose a message it handed to a worker
    # that died before recording it; decision 0006).
    completed_at = models.DateTimeField(null=True, blank=True)
    # Given by the relay as it relays, under its lock: the row's place in the feed other
    # deployables read (``outbox.feed``). Unlike occurred_at it follows commit order, so a
    # reader that has seen position N never finds a row below N committed later.
    position = models.BigIntegerField(null=True, blank=True, editable=False)
    # The deployable the event was received from, "" when it was published here. A received
    # event is delivered here like any other, and never served on in this deployable's feed.
    origin = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True
        ordering = ("occurred_at",)
        constraints = [
            # One row per place in the feed; the feed reads in this order.
            models.UniqueConstraint(fields=["position"], name="%(app_label)s_outbox_position"),
        ]
        indexes = [
            # The relay and the sweep read only what is still waiting, oldest first.
            models.Index(
                fields=["occurred_at"],
                condition=models.Q(relayed_at__isnull=True),
                name="%(app_label)s_outbox_waiting",
            ),
            # The relay finds the event a delivery must wait for (order per aggregate).
            models.Index(fields=["aggregate_id", "occurred_at"], name="%(app_label)s_outbox_aggr"),
            # The sweep checks relayed rows not yet seen handled by every subscriber.
            models.Index(
                fields=["relayed_at"],
                condition=models.Q(relayed_at__isnull=False, completed_at__isnull=True),
                name="%(app_label)s_outbox_unfinished",
            ),
            # Pruning removes relayed rows past their retention, oldest first.
            models.Index(
                fields=["relayed_at"],
                condition=models.Q(relayed_at__isnull=False),
                name="%(app_label)s_outbox_relayed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id}"


class InboxEntry(models.Model):
    """An event a subscriber has processed, written in the transaction of its effect."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField()
    subscriber = models.CharField(max_length=64)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "subscriber"], name="%(app_label)s_inbox_once"
            ),
        ]
        # Pruning removes entries past their retention, oldest first.
        indexes = [models.Index(fields=["processed_at"], name="%(app_label)s_inbox_processed")]

    def __str__(self) -> str:
        return f"{self.subscriber} processed {self.event_id}"


class ParkedDeliveryBase(models.Model):
    """A delivery that failed every attempt: kept with its error until staff retry it."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField()
    event_name = models.CharField(max_length=120)
    publisher = models.CharField(max_length=64)
    subscriber = models.CharField(max_length=64)
    payload = models.JSONField()
    attempts = models.PositiveIntegerField()
    last_error = models.TextField()
    parked_at = models.DateTimeField()
    retried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ("-parked_at",)
        # Re-sending a delivery changes what happens in the module: not for view-only staff.
        permissions = [("retry_parkeddelivery", "Can retry parked event deliveries")]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "subscriber"], name="%(app_label)s_parked_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.event_id} -> {self.subscriber}"
