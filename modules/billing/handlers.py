"""Reactions of billing to other modules' events."""

import logging
from functools import partial
from uuid import UUID

from django.db import transaction

from modules.billing import services
from modules.billing.errors import PaymentGatewayUnavailable
from modules.billing.models import Invoice
from modules.trips.events import TripCompleted
from monolith.platform.errors import Conflict, IllegalTransition
from monolith.platform.registry import module_database

logger = logging.getLogger(__name__)


def trip_completed_invoice(event: TripCompleted) -> None:
    """Invoice the completed trip, then try to collect once billing's transaction commits.

    Events are delivered inside the publisher's transaction. While billing shares the trips'
    database, that is the trip's transaction: collection waits for it, so a card is never
    charged for a completion that rolls back, and a gateway outage never undoes the
    completion. On a database of its own, billing's transaction is the invoice's alone and
    collection follows it (delivering events after the publisher commits is the outbox's
    job). A redelivered event finds
    the trip's invoice and issues nothing; it retries collection only while the invoice is
    still issued, as the same attempt with the same idempotency key, so never charges twice.
    """
    invoice = services.invoice_issue_for_trip(
        trip_id=event.trip_id,
        rider_id=event.rider_id,
        distance_km=event.distance_km,
        duration_seconds=event.duration_seconds,
        completed_at=event.completed_at,
    )
    if invoice.status == Invoice.Status.ISSUED:
        # robust: an unexpected failure is logged by Django rather than raised into the
        # trips request that has already committed.
        transaction.on_commit(
            partial(invoice_collect_after_trip, invoice_id=invoice.id),
            using=module_database("billing"),
            robust=True,
        )


def invoice_collect_after_trip(*, invoice_id: UUID) -> None:
    """First collection attempt; an invoice left unpaid here is retried by a rider or staff."""
    try:
        payment = services.invoice_collect_payment(invoice_id=invoice_id)
    except IllegalTransition:
        logger.info(
            "invoice %s was already settled", invoice_id, extra={"invoice": str(invoice_id)}
        )
        return
    except (PaymentGatewayUnavailable, Conflict) as exc:
        logger.warning(
            "collecting invoice %s failed: %s",
            invoice_id,
            exc.message,
            extra={"invoice": str(invoice_id), "error": exc.code},
        )
        return
    logger.info(
        "invoice %s collection attempt %s: %s",
        invoice_id,
        payment.attempt,
        payment.status,
        extra={"invoice": str(invoice_id), "payment_status": payment.status},
    )
