"""Paying suppliers through Stripe Connect: their connected account, the transfer after settlement, its reversal."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.errors import FieldError

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
