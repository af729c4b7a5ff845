"""What Stripe's webhook events move: card holds (forward only), off-session charges, bank payouts."""

from __future__ import annotations

import enum

from domain.payments.rules.cards import CardStatus, HoldKind, moves_forward

# Webhook events that move a card hold, and where to. Only forward moves are applied
# (moves_forward), so a late, replayed or out-of-order event changes nothing. A capture
# is recorded by the capture job (it books the ledger), so `payment_intent.succeeded` is
# acknowledged and stored but moves nothing here.
EVENT_TARGETS: dict[str, CardStatus] = {
    "payment_intent.amount_capturable_updated": CardStatus.AUTHORIZED,
    "payment_intent.payment_failed": CardStatus.AUTH_FAILED,
    "payment_intent.canceled": CardStatus.VOIDED,
}


# An off-session charge the member finished on-session: the one event that books money here
# (the capture job books holds captured at settlement; this charge had no job left to).
CHARGE_SUCCEEDED = "payment_intent.succeeded"
# Payouts of the Stripe balance to the co-op's bank: money leaves card clearing for the bank.
PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"
ACTED_ON = frozenset({*EVENT_TARGETS, CHARGE_SUCCEEDED, PAYOUT_PAID, PAYOUT_FAILED})


class BankPayoutBooking(enum.StrEnum):
    """What a payout event books in the ledger."""

    PAID = "paid"  # card clearing to bank
    RETURNED = "returned"  # a payout the bank returned after it was booked: back to card clearing


def bank_payout_booking(event_type: str, status_now: str) -> BankPayoutBooking | None:
    """What to book for a payout event, read against the payout's status at Stripe now.

    Stripe's current status decides, not the event alone: an event delivered late, out of
    order or replayed books only what Stripe says now. A payout that failed after it was
    reported paid ("paid" then "failed") is returned; one still pending books nothing.
    """
    if event_type == PAYOUT_PAID and status_now == "paid":
        return BankPayoutBooking.PAID
    if event_type == PAYOUT_FAILED and status_now == "failed":
        return BankPayoutBooking.RETURNED
    return None


def books_charge(event_type: str, kind: HoldKind, current: CardStatus) -> bool:
    """Stripe took an off-session charge the member confirmed: record it captured (and book it) once."""
    return (
        event_type == CHARGE_SUCCEEDED
        and kind is HoldKind.CHARGE
        and current in {CardStatus.PENDING_AUTH, CardStatus.ACTION_REQUIRED}
    )


# PaymentIntent statuses from which Stripe still lets a hold be cancelled.
CANCELLABLE_INTENT = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


def releases_late_authorization(event_type: str, current: CardStatus) -> bool:
    """An authorization reported for a hold we already voided: release it on Stripe, never capture it."""
    return EVENT_TARGETS.get(event_type) is CardStatus.AUTHORIZED and current is CardStatus.VOIDED


def event_move(event_type: str, current: CardStatus) -> CardStatus | None:
    """The status an event moves a hold to, or None when it does not act or would go back."""
    target = EVENT_TARGETS.get(event_type)
    if target is None or not moves_forward(current, target):
        return None
    return target
