"""Pure payout rules: the status machine, the books each move touches, and set-off (DOMAIN.md §4, §5).

A payout is cash the co-op owes a member. While it is owed, the amount sits in a
liability: `payable` while pending or failed, `unclaimed` while held for a member
who did not claim it. Each move that changes where the money is becomes one
journal entry; moves that change nothing in the books are recorded as payout
events only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.errors import ConflictError, FieldError, InvalidInputError


class PayoutStatus(enum.StrEnum):
    """Where a payout stands."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    VOID = "void"
    UNCLAIMED = "unclaimed"


class PayoutKind(enum.StrEnum):
    """Why the co-op owes the money."""

    PATRONAGE_CASH = "patronage_cash"
    EQUITY_REDEMPTION = "equity_redemption"
    SHARE_REDEMPTION = "share_redemption"
    PREFERRED_DIVIDEND = "preferred_dividend"


class PayoutMethod(enum.StrEnum):
    """The rail a payout was paid by; `set_off` only by a set-off against the trade account."""

    CHECK = "check"
    BANK_TRANSFER = "bank_transfer"
    ACH = "ach"
    CASH = "cash"
    STORE_CREDIT = "store_credit"
    SET_OFF = "set_off"


# Rails whose payments can come back (a bounced check, a returned transfer). Cash handed
# over, store credit and set-off cannot bounce: correcting them is a new decision.
BOUNCEABLE = frozenset({PayoutMethod.CHECK, PayoutMethod.BANK_TRANSFER, PayoutMethod.ACH})


class Book(enum.StrEnum):
    """The ledger accounts payout moves touch (the service maps them to the chart)."""

    PAYABLE = "payable"  # payouts owed to members (liability)
    UNCLAIMED = "unclaimed"  # payouts held for members who did not claim them (liability)
    BANK = "bank"
    CASH = "cash"
    MEMBER_TRADE = "member_trade"  # what the member owes the co-op (receivable)
    UNALLOCATED_EQUITY = "unallocated_equity"


# Every move staff may make; anything else is refused with the allowed ones.
TRANSITIONS: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.PENDING: frozenset(
        {PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.VOID, PayoutStatus.UNCLAIMED}
    ),
    PayoutStatus.PAID: frozenset({PayoutStatus.FAILED}),
    PayoutStatus.FAILED: frozenset({PayoutStatus.PENDING, PayoutStatus.VOID}),
    PayoutStatus.UNCLAIMED: frozenset({PayoutStatus.PENDING, PayoutStatus.VOID}),
    PayoutStatus.VOID: frozenset(),
}

# The verb clients use for each target status (the route names).
ACTIONS: dict[PayoutStatus, str] = {
    PayoutStatus.PAID: "mark-paid",
    PayoutStatus.FAILED: "fail",
    PayoutStatus.VOID: "void",
    PayoutStatus.PENDING: "reissue",
    PayoutStatus.UNCLAIMED: "mark-unclaimed",
}


def check_transition(current: PayoutStatus, target: PayoutStatus, *, method: PayoutMethod | None) -> None:
    """Refuse a move the machine does not allow (409 naming the allowed ones).

    `method` is the rail the payout was paid by: only payments on a bank rail can bounce.
    """
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(f"{ACTIONS[s]} ({s})" for s in sorted(TRANSITIONS[current])) or "none (final state)"
        msg = f"a {current} payout cannot be {_as_verb(target)}; allowed from {current}: {allowed}"
        raise ConflictError(msg)
    if current is PayoutStatus.PAID and method not in BOUNCEABLE:
        rails = ", ".join(sorted(BOUNCEABLE))
        msg = f"a payout paid by {method} cannot fail; only payments by {rails} can come back"
        raise ConflictError(msg)


def _as_verb(target: PayoutStatus) -> str:
    return {
        PayoutStatus.PAID: "marked paid",
        PayoutStatus.FAILED: "marked failed",
        PayoutStatus.VOID: "voided",
        PayoutStatus.PENDING: "reissued",
        PayoutStatus.UNCLAIMED: "marked unclaimed",
    }[target]


def paid_from(method: PayoutMethod) -> Book:
    """Where the money goes out.

    The bank for checks and transfers, the till for cash, the member's trade account (a
    credit there) for store credit and set-off.
    """
    return {
        PayoutMethod.CHECK: Book.BANK,
        PayoutMethod.BANK_TRANSFER: Book.BANK,
        PayoutMethod.ACH: Book.BANK,
        PayoutMethod.CASH: Book.CASH,
        PayoutMethod.STORE_CREDIT: Book.MEMBER_TRADE,
        PayoutMethod.SET_OFF: Book.MEMBER_TRADE,
    }[method]


def payment_method(requested: PayoutMethod | None, planned: PayoutMethod | None) -> PayoutMethod:
    """The rail a mark-paid uses: the one staff name, else the payout's planned one, else a check.

    Set-off is never chosen: it happens only through a set-off against the trade account.
    """
    if requested is PayoutMethod.SET_OFF:
        raise InvalidInputError(
            "set-off is not a way to mark a payout paid",
            [FieldError("method", "use the set-off route to apply a payout to the trade balance")],
        )
    if requested is not None:
        return requested
    if planned is not None and planned is not PayoutMethod.SET_OFF:
        return planned
    return PayoutMethod.CHECK


@dataclass(frozen=True, slots=True)
class Move:
    """One two-legged journal entry for the payout's whole amount."""

    debit: Book
    credit: Book


def move_for(current: PayoutStatus, target: PayoutStatus, *, method: PayoutMethod | None) -> Move | None:
    """The entry an allowed move posts, or None when no money moves.

    - pending -> paid: the liability is settled from the rail's account.
    - paid -> failed: the payment came back; the money is in the bank and owed again.
    - pending -> unclaimed: held apart, with its date, for the member to claim.
    - unclaimed -> pending (reissue): owed again as an ordinary payable.
    - pending/failed/unclaimed -> void: the co-op keeps the money [policy]: the
      liability is released to unallocated equity, never to another member.
    - pending -> failed (never sent) and failed -> pending (reissue): the money
      stays owed in the payable, so there is nothing to post; only the event is kept.
    """
    check_transition(current, target, method=method)
    if target is PayoutStatus.PAID:
        if method is None:
            msg = "a payout is paid by a method"
            raise ValueError(msg)
        return Move(Book.PAYABLE, paid_from(method))
    if current is PayoutStatus.PAID:  # -> failed: the bank got it back
        assert method is not None  # noqa: S101 - check_transition refused a paid payout without a bank rail
        return Move(paid_from(method), Book.PAYABLE)
    if target is PayoutStatus.UNCLAIMED:
        return Move(Book.PAYABLE, Book.UNCLAIMED)
    if current is PayoutStatus.UNCLAIMED:
        return Move(Book.UNCLAIMED, Book.PAYABLE if target is PayoutStatus.PENDING else Book.UNALLOCATED_EQUITY)
    if target is PayoutStatus.VOID:
        return Move(Book.PAYABLE, Book.UNALLOCATED_EQUITY)
    return None


def held_in(status: PayoutStatus) -> Book | None:
    """The liability a payout's amount sits in while it is owed (None once paid or void)."""
    return {
        PayoutStatus.PENDING: Book.PAYABLE,
        PayoutStatus.FAILED: Book.PAYABLE,
        PayoutStatus.UNCLAIMED: Book.UNCLAIMED,
    }.get(status)


def is_repeat(
    target: PayoutStatus,
    *,
    current: PayoutStatus,
    last_to: PayoutStatus | None,
    last_details: tuple[str | None, ...],
    details: tuple[str | None, ...],
) -> bool:
    """The request asks for the move that was just made, with the same details: a retry.

    It is answered with the payout as it is, writing nothing; the same move with other
    details (another reference or reason) is a conflict.
    """
    return current is target and last_to is target and last_details == details


@dataclass(frozen=True, slots=True)
class SetOff:
    """How much of a payout goes to the member's trade debt, and what remains to pay."""

    set_off_cents: int
    remaining_cents: int

    @property
    def settles(self) -> bool:
        """Nothing remains: the payout is paid, by set-off."""
        return self.remaining_cents == 0


def set_off(*, owed_cents: int, payout_cents: int, requested_cents: int | None) -> SetOff:
    """Apply a pending payout to what the member owes: min(owed, payout, requested).

    400 when the member owes nothing; the request, when given, must be positive.
    """
    if requested_cents is not None and requested_cents <= 0:
        raise InvalidInputError(
            "the set-off is not acceptable", [FieldError("amount_cents", "must be a positive number of cents")]
        )
    if owed_cents <= 0:
        raise InvalidInputError(
            "the member owes nothing on its trade account",
            [FieldError("amount_cents", "nothing is owed on the trade account to set off")],
        )
    amount = min(owed_cents, payout_cents)
    if requested_cents is not None:
        amount = min(amount, requested_cents)
    return SetOff(set_off_cents=amount, remaining_cents=payout_cents - amount)


def journal_key(payout_id: int, sequence: int) -> str:
    """The entry of the payout's n-th event: a retried request can never post it twice."""
    return f"payout:{payout_id}:event:{sequence}"


def action_of(from_status: PayoutStatus, to_status: PayoutStatus, *, set_off: bool) -> str:
    """The name of what happened in one event, for its history."""
    if set_off or (from_status is PayoutStatus.PENDING and to_status is PayoutStatus.PENDING):
        return "set-off"
    return ACTIONS[to_status]


# Card payments (PAYMENTS.md): one order's card hold, from authorization to capture or void.


class CardStatus(enum.StrEnum):
    """Where one order's card payment stands (PAYMENTS.md, the state machine)."""

    PENDING_AUTH = "pending_auth"  # asked for; the card has not said yes yet (3DS, or the answer was lost)
    AUTHORIZED = "authorized"
    AUTH_FAILED = "auth_failed"  # declined: the order does not count toward the group's volume
    CAPTURED = "captured"
    VOIDED = "voided"  # cancelled: the order changed or was withdrawn, or nothing was delivered
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    # Off-session (re-authorization or charge at settlement), the card asked for the member:
    # the member has until the grace deadline to finish it on-session, else the order drops out.
    ACTION_REQUIRED = "action_required"


class HoldKind(enum.StrEnum):
    """Why a hold version exists: the order's own (member present), a renewal, or a charge at settlement."""

    HOLD = "hold"  # asked for when the order was placed or changed (confirmed on-session)
    REAUTH = "reauth"  # off-session, before the previous authorization lapses
    CHARGE = "charge"  # off-session, automatic capture, at settlement when the hold had lapsed


# Only forward: a late or replayed event never takes a payment back. An authorization that
# failed can still succeed (the member retries the card); a captured or voided one is final
# but for refunds.
CARD_TRANSITIONS: dict[CardStatus, frozenset[CardStatus]] = {
    CardStatus.PENDING_AUTH: frozenset(
        {
            CardStatus.AUTHORIZED,
            CardStatus.AUTH_FAILED,
            CardStatus.VOIDED,
            CardStatus.ACTION_REQUIRED,
            CardStatus.CAPTURED,  # an off-session charge is captured at once
        }
    ),
    CardStatus.ACTION_REQUIRED: frozenset({CardStatus.AUTHORIZED, CardStatus.CAPTURED, CardStatus.VOIDED}),
    CardStatus.AUTH_FAILED: frozenset({CardStatus.AUTHORIZED, CardStatus.VOIDED}),
    CardStatus.AUTHORIZED: frozenset({CardStatus.CAPTURED, CardStatus.VOIDED}),
    CardStatus.CAPTURED: frozenset({CardStatus.PARTIALLY_REFUNDED, CardStatus.REFUNDED}),
    CardStatus.PARTIALLY_REFUNDED: frozenset({CardStatus.PARTIALLY_REFUNDED, CardStatus.REFUNDED}),
    CardStatus.VOIDED: frozenset(),
    CardStatus.REFUNDED: frozenset(),
}

# The states in which an order's units count toward the group's volume: a declined card does not.
COUNTS_TOWARD_VOLUME = frozenset({CardStatus.PENDING_AUTH, CardStatus.AUTHORIZED})


# How long a card network keeps an authorization when the provider does not say (PAYMENTS.md):
# 7 days for one the member's card gave at order time, 4 days 18 hours for an off-session
# (merchant-initiated) one, the shortest of the networks' windows.
ON_SESSION_WINDOW = timedelta(days=7)
OFF_SESSION_WINDOW = timedelta(days=4, hours=18)


def capture_before(authorized_at: datetime, *, reported: datetime | None, off_session: bool) -> datetime:
    """When the hold lapses: the network's date when reported, else the window's end (never later than reported)."""
    if reported is not None:
        return reported
    return authorized_at + (OFF_SESSION_WINDOW if off_session else ON_SESSION_WINDOW)


def shows_client_secret(status: CardStatus) -> bool:
    """The browser needs the secret only while the hold waits for the member (3-D Secure)."""
    return status in {CardStatus.PENDING_AUTH, CardStatus.ACTION_REQUIRED}


# Renew a hold this long before it lapses, so a failed renewal still leaves the member a
# grace period while the old authorization holds.
REAUTH_MARGIN = timedelta(days=1)
# How long a member has to finish an off-session payment the card asked them to confirm.
ACTION_GRACE = timedelta(hours=48)


def needs_renewal(capture_before: datetime | None, now: datetime) -> bool:
    """An authorized hold is renewed off-session once its lapse is within the margin."""
    return capture_before is not None and capture_before - REAUTH_MARGIN <= now


def lapsed(capture_before: datetime | None, now: datetime) -> bool:
    """The authorization can no longer be captured (an unknown lapse date is taken as still good)."""
    return capture_before is not None and capture_before <= now


def off_session_status(intent_status: str) -> CardStatus:
    """Our status for an off-session PaymentIntent: anything the member must do is ``action_required``."""
    status = hold_status(intent_status)
    return CardStatus.ACTION_REQUIRED if status in {CardStatus.PENDING_AUTH, CardStatus.AUTH_FAILED} else status


class SettleAction(enum.StrEnum):
    """What settlement does with an order's card payment."""

    CANCEL = "cancel"  # nothing owed: release every hold
    CAPTURE = "capture"  # capture the charge from a hold that still holds
    CHARGE = "charge"  # the authorization lapsed: charge the saved card off-session
    RELEASE = "release"  # never authorized: the trade account keeps the charge; release what the card may hold


@dataclass(frozen=True, slots=True)
class HoldState:
    """One hold version as settlement weighs it."""

    id: int
    status: CardStatus
    capture_before: datetime | None


@dataclass(frozen=True, slots=True)
class SettleStep:
    """Settlement's decision for one order: the action, and the hold captured (CAPTURE only)."""

    action: SettleAction
    capture_hold_id: int | None = None


def settle_step(*, charge_cents: int, holds: list[HoldState], now: datetime) -> SettleStep:
    """Capture from the newest authorization still holding; charge off-session if every one lapsed.

    ``holds`` are the order's live (not voided) versions, newest first. Every hold but the
    one captured is released by the caller.
    """
    if charge_cents == 0:
        return SettleStep(SettleAction.CANCEL)
    authorized = [h for h in holds if h.status is CardStatus.AUTHORIZED]
    for hold in authorized:
        if not lapsed(hold.capture_before, now):
            return SettleStep(SettleAction.CAPTURE, hold.id)
    return SettleStep(SettleAction.CHARGE if authorized else SettleAction.RELEASE)


def moves_forward(current: CardStatus, target: CardStatus) -> bool:
    """Whether ``target`` is a step forward from ``current`` (a repeat or a step back is not)."""
    return target in CARD_TRANSITIONS[current]


def hold_status(intent_status: str) -> CardStatus:
    """Our status for a PaymentIntent's status just after it was created and confirmed."""
    return {
        "requires_capture": CardStatus.AUTHORIZED,
        "succeeded": CardStatus.CAPTURED,
        "canceled": CardStatus.VOIDED,
        "requires_payment_method": CardStatus.AUTH_FAILED,
    }.get(intent_status, CardStatus.PENDING_AUTH)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to do with one order's hold at settlement: capture ``capture_cents``, or cancel when zero."""

    capture_cents: int
    released_cents: int

    @property
    def cancels(self) -> bool:
        """Nothing delivered: the hold is cancelled, never captured for zero."""
        return self.capture_cents == 0


def settle_hold(*, held_cents: int, charge_cents: int) -> Settlement:
    """Capture what the member owes for the delivered units; the rest of the hold is released.

    Prices only fall as the group's volume rises and deliveries only shrink an order, so the
    charge is never above the hold; a charge above it is a bug, never a bill.
    """
    if charge_cents < 0 or held_cents < 0:
        msg = "amounts cannot be negative"
        raise ValueError(msg)
    if charge_cents > held_cents:
        msg = f"the charge {charge_cents} is above the card hold {held_cents}"
        raise ConflictError(msg, code="charge_above_hold")
    return Settlement(charge_cents, held_cents - charge_cents)


def refund_status(*, captured_cents: int, refunded_cents: int) -> CardStatus:
    """The status after refunds totalling ``refunded_cents`` of a capture."""
    if not 0 < refunded_cents <= captured_cents:
        msg = f"refunds of {refunded_cents} do not fit the capture of {captured_cents}"
        raise ConflictError(msg, code="refund_above_capture")
    return CardStatus.REFUNDED if refunded_cents == captured_cents else CardStatus.PARTIALLY_REFUNDED


# Deterministic idempotency keys, from the domain operation: a retried job or request sends
# the same key, so Stripe answers the first call's result instead of charging twice.


def customer_key(member_id: int) -> str:
    """The one Stripe customer of a member."""
    return f"customer:{member_id}"


def setup_key(member_id: int, number: int) -> str:
    """The member's ``number``-th card set-up."""
    return f"setup:{member_id}:{number}"


def hold_key(order_id: int, version: int) -> str:
    """The hold for one version of an order (each change of the order makes a new version)."""
    return f"hold:{order_id}:{version}"


def cancel_key(order_id: int, version: int) -> str:
    """Cancelling the hold of one version of an order."""
    return f"cancel:{order_id}:{version}"


def release_key(order_id: int, version: int) -> str:
    """Releasing a voided hold that Stripe reports authorized after all (its cancel never reached Stripe)."""
    return f"release:{order_id}:{version}"


def reauth_key(order_id: int, version: int) -> str:
    """The off-session renewal of an order's hold, as its version ``version``."""
    return f"reauth:{order_id}:{version}"


def charge_key(order_id: int) -> str:
    """The off-session charge of an order at settlement (once: an order is paid once)."""
    return f"charge:{order_id}"


def capture_key(order_id: int) -> str:
    """An order is captured once, at settlement."""
    return f"capture:{order_id}"


def refund_key(order_id: int, number: int) -> str:
    """The ``number``-th refund of an order's capture."""
    return f"refund:{order_id}:{number}"


def transfer_group(group_buy_id: int) -> str:
    """Every member payment of a group buy shares one transfer group (Connect, separate charges and transfers)."""
    return f"gb_{group_buy_id}"


def transfer_key(group_buy_id: int, supplier_id: int) -> str:
    """A supplier is paid by Connect once per group buy: the transfer and its ledger entry share this key."""
    return f"transfer:{group_buy_id}:{supplier_id}"


# Stripe's connected account ids: ``acct_`` and letters and digits (Stripe's own are 16 after the prefix).
_ACCOUNT_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
MAX_ACCOUNT_ID = 255


def connected_account_errors(account_id: str) -> list[FieldError]:
    """A supplier's Stripe connected account id must look like one (``acct_...``): a typo would pay no one."""
    rest = account_id.removeprefix("acct_")
    if (
        rest == account_id
        or not rest
        or len(account_id) > MAX_ACCOUNT_ID
        or any(ch not in _ACCOUNT_ALPHABET for ch in rest)
    ):
        return [FieldError("stripe_account_id", "must be a Stripe connected account id: acct_ then letters and digits")]
    return []


def share_key(member_id: int, payment_id: int) -> str:
    """A membership share (or instalment) paid by card: one PaymentIntent per recorded request."""
    return f"share:{member_id}:{payment_id}"


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


class TransferRefusal(enum.StrEnum):
    """Why a supplier is not paid by Connect transfer after settlement."""

    NOTHING_OWED = "nothing_owed"
    ALREADY_TRANSFERRED = "already_transferred"
    PAID_BY_HAND = "paid_by_hand"


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """The transfer to make (``amount_cents``), or why none is made."""

    amount_cents: int
    refusal: TransferRefusal | None


def transfer_plan(*, payable_cents: int, paid_by_hand_cents: int, transferred_cents: int) -> TransferPlan:
    """One transfer of the whole payable (delivered value at the supplier's price, no markup), or none.

    A transfer already made is not made again; a payment staff already made by hand blocks it,
    so the supplier is never paid twice for the same goods.
    """
    if transferred_cents > 0:
        return TransferPlan(0, TransferRefusal.ALREADY_TRANSFERRED)
    if paid_by_hand_cents > 0:
        return TransferPlan(0, TransferRefusal.PAID_BY_HAND)
    if payable_cents <= 0:
        return TransferPlan(0, TransferRefusal.NOTHING_OWED)
    return TransferPlan(payable_cents, None)


def transfer_reversal_cents(
    *, payable_cents: int, paid_by_hand_cents: int, transferred_cents: int, reversed_cents: int
) -> int:
    """What to take back from the supplier's transfer after a correction lowered its payable (0: nothing).

    Only what was paid beyond the payable, and never more than what is still transferred.
    """
    still_transferred = transferred_cents - reversed_cents
    overpaid = paid_by_hand_cents + still_transferred - payable_cents
    return max(0, min(overpaid, still_transferred))


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
