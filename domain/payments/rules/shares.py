"""Membership shares paid by card: credited only once Stripe says the payment succeeded."""

from __future__ import annotations

import enum


class ShareCardStatus(enum.StrEnum):
    """A share payment by card: credited only once Stripe says it succeeded."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"  # the share was credited
    FAILED = "failed"  # nothing was taken, nothing credited
    UNAPPLIED = "unapplied"  # taken, but more than the share still due when it arrived: staff refund it


# What Stripe saying so about a share payment's PaymentIntent means for a pending one.
SHARE_OUTCOMES = {
    "payment_intent.succeeded": ShareCardStatus.SUCCEEDED,
    "payment_intent.payment_failed": ShareCardStatus.FAILED,
    "payment_intent.canceled": ShareCardStatus.FAILED,
}
SHARE_INTENT_OUTCOMES = {"succeeded": ShareCardStatus.SUCCEEDED, "canceled": ShareCardStatus.FAILED}


def share_outcome(
    current: ShareCardStatus, *, event_type: str | None = None, intent_status: str | None = None
) -> ShareCardStatus | None:
    """Where a share payment moves on an event or a status read back from Stripe; None: it stays.

    Only a pending payment moves, so a replayed event, or an event after the status was
    read back, changes nothing.
    """
    if current is not ShareCardStatus.PENDING:
        return None
    if event_type is not None:
        return SHARE_OUTCOMES.get(event_type)
    return SHARE_INTENT_OUTCOMES.get(intent_status or "")
