"""Platform tables: how far this deployable has read each other deployable's outbox feed."""

from django.db import models


class FeedPosition(models.Model):
    """The last place read in one outbox feed of another deployable (``outbox.feed``).

    Written in the transaction that applied what was read, so a page is taken once.
    """

    source = models.CharField(max_length=200, help_text="The base URL of the deployable read.")
    publisher = models.CharField(max_length=64, help_text="The module whose outbox is read.")
    position = models.BigIntegerField(default=0)
    pulled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the last read that reached the end of the feed began: every row the "
        "other side committed before then is here.",
    )
    received = models.PositiveBigIntegerField(default=0, help_text="Events taken in so far.")
    applied = models.PositiveBigIntegerField(default=0, help_text="Row changes applied so far.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "publisher"], name="platform_feed_once"),
        ]

    def __str__(self) -> str:
        return f"{self.publisher} at {self.source}: {self.position}"
