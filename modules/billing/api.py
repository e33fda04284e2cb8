"""Front door of the billing module.

Functions take and return small frozen dataclasses, never model instances or querysets.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from monolith.platform.errors import NotFound
from monolith.platform.money import Money


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceSummary:
    id: UUID
    number: str
    trip_id: UUID
    rider_id: UUID
    status: str  # issued, paid, payment_failed, refunded, void
    total: Money
    issued_at: datetime


def invoice_for_trip(*, trip_id: UUID) -> InvoiceSummary:
    """The invoice issued for a trip; raises ``InvoiceNotFound``."""
    raise NotImplementedError
