"""Card clearing reconciliation and drift: what moved by kind, and where Stripe disagrees with our holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.errors import FieldError, InvalidInputError
from domain.payments.rules.cards import CardStatus

# Card clearing reconciliation: every movement of the clearing account has a kind; the report
# names each, and whatever moved under another kind is the difference staff must explain.
CLEARING_KINDS = {
    "card_capture": "captured",
    "card_share": "captured",  # a membership share paid by card
    "card_refund": "refunded",
    "card_fee": "fees",
    "card_transfer": "transferred",
    "card_payout": "paid_out",
}


@dataclass(frozen=True, slots=True)
class CardReconciliation:
    """One period of the card clearing account: opening, what moved by kind, closing, and what nothing explains."""

    opening_cents: int
    captured_cents: int
    refunded_cents: int
    fees_cents: int
    transferred_cents: int
    paid_out_cents: int
    closing_cents: int

    @property
    def expected_closing_cents(self) -> int:
        """Opening plus captures, less refunds, fees, transfers to suppliers and payouts to the bank."""
        out = self.refunded_cents + self.fees_cents + self.transferred_cents + self.paid_out_cents
        return self.opening_cents + self.captured_cents - out

    @property
    def difference_cents(self) -> int:
        """What the clearing account moved that none of the kinds explains: zero when it reconciles."""
        return self.closing_cents - self.expected_closing_cents


def reconcile(*, opening_cents: int, moved: dict[str, int]) -> CardReconciliation:
    """The period's report from the opening balance and the net debit movement of each entry kind.

    Captures are debits of the clearing account (positive); refunds, fees, transfers and
    payouts are credits (negative net), reported as positive amounts.
    """
    named = dict.fromkeys(CLEARING_KINDS.values(), 0)
    for kind, field in CLEARING_KINDS.items():  # several kinds may make one figure (captures of orders and shares)
        named[field] += moved.get(kind, 0) if field == "captured" else -moved.get(kind, 0)
    return CardReconciliation(
        opening_cents=opening_cents,
        captured_cents=named["captured"],
        refunded_cents=named["refunded"],
        fees_cents=named["fees"],
        transferred_cents=named["transferred"],
        paid_out_cents=named["paid_out"],
        closing_cents=opening_cents + sum(moved.values()),
    )


MAX_REPORT_DAYS = 366


def report_period(period_from: date, period_to: date) -> tuple[datetime, datetime]:
    """The UTC bounds ``[start, end)`` of whole days ``period_from``..``period_to``; 400 when backwards or too long."""
    if period_to < period_from:
        raise InvalidInputError("the period is not valid", [FieldError("period_to", "must be on or after period_from")])
    if period_to >= date.max:
        raise InvalidInputError("the period is not valid", [FieldError("period_to", "must be before 9999-12-31")])
    if (period_to - period_from).days >= MAX_REPORT_DAYS:
        raise InvalidInputError(
            "the period is not valid", [FieldError("period_to", f"a period spans at most {MAX_REPORT_DAYS} days")]
        )
    start = datetime.combine(period_from, time(), tzinfo=UTC)
    return start, datetime.combine(period_to + timedelta(days=1), time(), tzinfo=UTC)


# What Stripe's PaymentIntent may say while our hold is in each state. Anything else is drift:
# an event we never got (Stripe gave up delivering it) or a call whose answer was lost.
EXPECTED_INTENT: dict[CardStatus, frozenset[str]] = {
    CardStatus.PENDING_AUTH: frozenset(
        {"requires_action", "requires_confirmation", "requires_payment_method", "processing"}
    ),
    CardStatus.ACTION_REQUIRED: frozenset({"requires_action", "requires_confirmation", "requires_payment_method"}),
    CardStatus.AUTHORIZED: frozenset({"requires_capture"}),
    CardStatus.AUTH_FAILED: frozenset({"requires_payment_method", "canceled"}),
    CardStatus.CAPTURED: frozenset({"succeeded"}),
    CardStatus.PARTIALLY_REFUNDED: frozenset({"succeeded"}),
    CardStatus.REFUNDED: frozenset({"succeeded"}),
    CardStatus.VOIDED: frozenset({"canceled"}),
}
# A hold changed this recently may still have a job on its way to Stripe: not drift yet.
DRIFT_SETTLE_TIME = timedelta(minutes=15)


def drifted(status: CardStatus, intent_status: str) -> bool:
    """Stripe's PaymentIntent disagrees with our hold."""
    return intent_status not in EXPECTED_INTENT[status]


REPLAY_FIRST_LOOKBACK = timedelta(days=3)  # Stripe retries a failed delivery for up to three days


def replay_window(mark: datetime | None, now: datetime) -> tuple[datetime, datetime] | None:
    """The created-time window ``(after, until]`` of missed events to replay now, or None when it is empty.

    It stops ``DRIFT_SETTLE_TIME`` short of now: an event that new may not have been tried
    yet, and once the mark passes it, it would never be listed again.
    """
    until = now - DRIFT_SETTLE_TIME
    after = mark if mark is not None else until - REPLAY_FIRST_LOOKBACK
    return (after, until) if after < until else None
