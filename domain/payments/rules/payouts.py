"""Payouts: the status machine, the books each move touches, and set-off (DOMAIN.md sections 4 and 5).

A payout is cash the co-op owes a member. While it is owed, the amount sits in a
liability: `payable` while pending or failed, `unclaimed` while held for a member
who did not claim it. Each move that changes where the money is becomes one
journal entry; moves that change nothing in the books are recorded as payout
events only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

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
