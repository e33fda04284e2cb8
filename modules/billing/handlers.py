"""Reactions of billing to events: trips' and its own.

Each handler runs in billing's transaction with its inbox row (decision 0006), delivered by a
worker after the publisher committed, at least once: every one is safe to run again. A
handler that raises is retried with backoff and, after the last attempt, parked for staff.

The payment flow is a chain of steps, each its own delivery, so a crash between two steps
leaves the next one waiting in an outbox rather than lost::

    TripCompleted        -> issue the invoice (InvoiceIssued)
    InvoiceIssued        -> first card attempt (InvoicePaid or InvoicePaymentFailed)
    InvoicePaymentFailed -> take what is owed from the booking's credit hold (maybe InvoicePaid)
    InvoicePaid          -> release what the booking still holds
    InvoiceVoided        -> release what the booking still holds
    TripInterrupted      -> withdraw any invoice, release the booking's hold
"""

import logging

from modules.billing import services
from modules.billing.events import InvoiceIssued, InvoicePaid, InvoicePaymentFailed, InvoiceVoided
from modules.trips.events import TripCancelled, TripCompleted, TripInterrupted
from monolith.platform.errors import Conflict, IllegalTransition

logger = logging.getLogger(__name__)


def trip_completed_invoice(event: TripCompleted) -> None:
    """Invoice the completed trip with the tariff in force when it completed.

    Idempotent per trip: a second delivery (or a second publication of the same fact) finds
    the trip's invoice and issues nothing. Collection is the next step, on ``InvoiceIssued``,
    so the invoice is committed before any card is charged.
    """
    services.invoice_issue_for_trip(
        trip_id=event.trip_id,
        rider_id=event.rider_id,
        distance_km=event.distance_km,
        duration_seconds=event.duration_seconds,
        completed_at=event.completed_at,
    )


def invoice_issued_collect(event: InvoiceIssued) -> None:
    """First attempt to collect the new invoice from the rider's card.

    A declined card is an outcome, not an error: the attempt is recorded and
    ``InvoicePaymentFailed`` takes it on. A gateway outage raises, so the delivery is retried
    (the same attempt with the same idempotency key: never charged twice) and finally parked.
    """
    extra = {"invoice": str(event.invoice_id)}
    try:
        payment = services.invoice_collect_payment(invoice_id=event.invoice_id, first_attempt=True)
    except IllegalTransition as exc:
        logger.info("invoice %s: %s", event.number, exc.message, extra=extra)
        return
    except Conflict as exc:
        # The provider holds this attempt with other details: staff reconcile it, then retry.
        logger.warning(
            "collecting invoice %s needs reconciling: %s",
            event.number,
            exc.message,
            extra={**extra, "error": exc.code},
        )
        return
    logger.info(
        "invoice %s collection attempt %s: %s",
        event.number,
        payment.attempt,
        payment.status,
        extra={**extra, "payment_status": payment.status},
    )


def invoice_payment_failed_collect_from_wallet(event: InvoicePaymentFailed) -> None:
    """The card failed: take what the invoice owes from the credit the booking holds."""
    payment = services.invoice_collect_from_wallet(invoice_id=event.invoice_id)
    if payment is not None:
        logger.info(
            "invoice %s: %s %s taken from the rider's wallet",
            event.invoice_id,
            payment.amount,
            payment.currency,
            extra={"invoice": str(event.invoice_id), "payment": str(payment.id)},
        )


def invoice_paid_release_hold(event: InvoicePaid) -> None:
    """Paid: whatever the booking still holds goes back to the rider."""
    services.booking_hold_release(
        rider_id=event.rider_id, trip_id=event.trip_id, why=f"invoice {event.invoice_id} paid"
    )


def invoice_voided_release_hold(event: InvoiceVoided) -> None:
    """Voided: the rider owes nothing, so the booking's hold goes back to them."""
    services.booking_hold_release(
        rider_id=event.rider_id, trip_id=event.trip_id, why=f"invoice {event.invoice_id} voided"
    )


def trip_cancelled_release_hold(event: TripCancelled) -> None:
    """Cancelled before it started: the rider owes nothing, the booking's hold goes back."""
    services.booking_hold_release(
        rider_id=event.rider_id, trip_id=event.trip_id, why=f"trip cancelled ({event.reason})"
    )


def trip_interrupted_release_hold(event: TripInterrupted) -> None:
    """The rider pays nothing for an interrupted trip: any invoice is withdrawn (voided, or
    refunded if something was collected) and the booking's hold is released."""
    invoice = services.invoice_withdraw_for_trip(
        trip_id=event.trip_id, reason=f"Trip interrupted: {event.reason}"[:255]
    )
    if invoice is not None:
        logger.warning(
            "interrupted trip %s had invoice %s; it is now %s",
            event.trip_id,
            invoice.number,
            invoice.status,
            extra={"trip": str(event.trip_id), "invoice": str(invoice.id)},
        )
    services.booking_hold_release(
        rider_id=event.rider_id, trip_id=event.trip_id, why="trip interrupted"
    )
