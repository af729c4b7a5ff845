"""Pure rules of the double-entry journal."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


class Side(enum.StrEnum):
    """Which column of the account a posting lands in."""

    DEBIT = "debit"
    CREDIT = "credit"

    def opposite(self) -> Side:
        """The other side, used by reversals."""
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class AccountKind(enum.StrEnum):
    """Account classes; they decide which side a balance is normally on."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> Side:
        """Assets and expenses grow with debits; the rest with credits."""
        return Side.DEBIT if self in {AccountKind.ASSET, AccountKind.EXPENSE} else Side.CREDIT


class UnbalancedEntryError(ValueError):
    """Debits and credits of an entry differ, or a posting is not positive."""


@dataclass(frozen=True, slots=True)
class PostingLine:
    """One leg of a journal entry."""

    account_id: int
    side: Side
    amount_cents: int
    equity_lot_id: int | None = None
    """The equity lot this leg moves, on the retained equity account (a lot's redemption)."""


def check_balanced(lines: Sequence[PostingLine]) -> None:
    """Refuse an entry the database would refuse, with a clearer message."""
    if len(lines) < 2:  # noqa: PLR2004 - double entry needs two legs
        msg = "a journal entry needs at least two postings"
        raise UnbalancedEntryError(msg)
    for line in lines:
        if isinstance(line.amount_cents, bool) or not isinstance(line.amount_cents, int) or line.amount_cents <= 0:
            msg = f"posting amounts are positive integer cents, got {line.amount_cents!r}"
            raise UnbalancedEntryError(msg)
    debits = sum(line.amount_cents for line in lines if line.side is Side.DEBIT)
    credits = sum(line.amount_cents for line in lines if line.side is Side.CREDIT)
    if debits != credits:
        msg = f"debits {debits} != credits {credits}"
        raise UnbalancedEntryError(msg)


def reversal_of(lines: Iterable[PostingLine]) -> list[PostingLine]:
    """The entry that undoes `lines`: same accounts and amounts, sides swapped."""
    return [PostingLine(line.account_id, line.side.opposite(), line.amount_cents, line.equity_lot_id) for line in lines]


def signed_balance(kind: AccountKind, debits_cents: int, credits_cents: int) -> int:
    """Balance on the account's normal side (positive = what the kind normally holds)."""
    if kind.normal_side is Side.DEBIT:
        return debits_cents - credits_cents
    return credits_cents - debits_cents


def receipt_memo(method: str, reference: str | None) -> str:
    """A receipt's memo: how the money came and the payer's reference, if any (``check 1042``)."""
    return f"{method} {reference or ''}".strip()
