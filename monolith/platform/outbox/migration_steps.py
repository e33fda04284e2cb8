"""Steps the modules' migrations share when the outbox tables change."""

from typing import Any

from django.db import migrations
from django.db.models import F


def relayed_rows_completed(label: str) -> migrations.RunPython:
    """Mark the rows relayed before ``completed_at`` existed as completed.

    Left empty, every relayed row in the outbox would look unfinished to the sweep, which
    would send all of them again at once: harmless for the inboxes, a burst for the broker.
    """

    def forwards(apps: Any, schema_editor: Any) -> None:
        table = apps.get_model(label, "Outbox")
        table.objects.using(schema_editor.connection.alias).filter(
            relayed_at__isnull=False, completed_at__isnull=True
        ).update(completed_at=F("relayed_at"))

    return migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)
