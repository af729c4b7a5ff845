"""What an allocation run request must satisfy before anything is stored, and the reconciliation's arithmetic."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from domain.equity.rules import BaseCapitalSplit, loan_deduction
from domain.errors import FieldError
from domain.money import BIGINT_MAX
from domain.patronage.rules import fiscal_year_end, payment_period_end
from domain.transitions import check_move

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import date


class AllocationRunStatus(enum.StrEnum):
    """``computing -> computed -> posted``; a computation refused or given up is ``failed``."""

    COMPUTING = "computing"
    COMPUTED = "computed"
    POSTED = "posted"
    FAILED = "failed"


# Every move an allocation run may make. A posted run is final (its entries are in the
# ledger); a failed one is final too: staff start a new run with corrected inputs.
RUN_TRANSITIONS: Mapping[AllocationRunStatus, frozenset[AllocationRunStatus]] = MappingProxyType(
    {
        AllocationRunStatus.COMPUTING: frozenset({AllocationRunStatus.COMPUTED, AllocationRunStatus.FAILED}),
        AllocationRunStatus.COMPUTED: frozenset({AllocationRunStatus.POSTED}),
        AllocationRunStatus.POSTED: frozenset(),
        AllocationRunStatus.FAILED: frozenset(),
    }
)

RUN_TRANSITION_REFUSED = "allocation_run_transition_refused"


def check_run_transition(current: str, target: AllocationRunStatus, *, run_id: int | None = None) -> None:
    """Refuse a move the table does not allow (409, code ``allocation_run_transition_refused``)."""
    check_move(
        RUN_TRANSITIONS,
        AllocationRunStatus(current),
        target,
        what=f"allocation run {run_id}",
        code=RUN_TRANSITION_REFUSED,
    )


def run_date_errors(fiscal_year: int, *, start_month: int, payment_date: date, today: date) -> list[FieldError]:
    """A run is for a fiscal year that has ended, paid within that year's payment period.

    Patronage of a year still running is not final, so its allocation would be
    wrong; cash and notices dated after the payment period (the 15th day of the 9th
    month after the year ends) cannot be deducted, so the run is refused, not made
    non-qualified by accident of a typo.
    """
    end = fiscal_year_end(fiscal_year, start_month)
    errors = []
    if today <= end:
        errors.append(FieldError("fiscal_year", f"fiscal year {fiscal_year} has not ended (it ends on {end})"))
    last = payment_period_end(end)
    if not end <= payment_date <= last:
        errors.append(FieldError("payment_date", f"must be within the payment period, {end} to {last}"))
    return errors


def pool_errors(pools: Sequence[str], with_patronage: Collection[str]) -> list[FieldError]:
    """Each pool named in the request must have patronage in the year: a margin needs patrons to go to."""
    return [
        FieldError(f"pools[{i}].pool", f"pool {pool!r} has no patronage in this fiscal year")
        for i, pool in enumerate(pools)
        if pool not in with_patronage
    ]


@dataclass(frozen=True, slots=True)
class CashExplained:
    """Why payouts differ from the cash the run allocated: every cent is one of these."""

    cash_cents: int
    applied_to_shares_cents: int
    set_off_cents: int
    paid_cents: int
    pending_cents: int
    unclaimed_cents: int
    failed_cents: int
    void_cents: int

    @property
    def unexplained_cents(self) -> int:
        """Zero when the allocated cash is fully accounted for."""
        return self.cash_cents - (
            self.applied_to_shares_cents
            + self.set_off_cents
            + self.paid_cents
            + self.pending_cents
            + self.unclaimed_cents
            + self.failed_cents
            + self.void_cents
        )


# --- a member's line: base capital, membership loan, payout -------------------------


@dataclass(frozen=True, slots=True)
class LineMoney:
    """How a member's allocation is paid: cash, retained, and the share repaid from the cash."""

    cash_cents: int
    retained_cents: int
    loan_deduction_cents: int

    @property
    def payout_cents(self) -> int:
        """The cash the member is paid: the line's cash less what repays its share (the SQL of posting.py)."""
        return payout_cents(self.cash_cents, self.loan_deduction_cents)


def unpaid_share_cents(par_cents: int, paid_cents: int) -> int:
    """What a member still owes on its membership share (a membership loan); never below 0."""
    return max(par_cents - paid_cents, 0)


def line_money(
    *,
    allocation_cents: int,
    cash_cents: int,
    retained_cents: int,
    base_capital: BaseCapitalSplit | None,
    unpaid_share_cents: int,
) -> LineMoney:
    """The policy's cash and retained parts, overridden by the base capital plan where the member has one.

    A member that owes on its share repays it from the cash above the qualified minimum
    (``loan_deduction``); with nothing owed or no cash there is nothing to deduct.
    """
    if base_capital is not None:
        cash_cents, retained_cents = base_capital.cash_cents, base_capital.retained_cents
    deduction = 0
    if unpaid_share_cents > 0 and cash_cents > 0:
        deduction = loan_deduction(allocation_cents, cash_cents, unpaid_share_cents)
    return LineMoney(cash_cents, retained_cents, deduction)


def payout_cents(cash_cents: int, loan_deduction_cents: int) -> int:
    """The patronage cash paid out: a payout (and the payable credited) only when this is above 0.

    posting.py computes the same ``cash_cents - loan_deduction_cents`` set-based in SQL over
    every line; a test holds the two equal.
    """
    return cash_cents - loan_deduction_cents


def lines_fit_bigint(
    distributable: Sequence[int], largest_volume: Sequence[int], rates: Sequence[tuple[int, int]]
) -> bool:
    """Whether every product the lines statement forms fits in a signed 64-bit integer.

    Per pool D x the largest member volume (the split), and for a member's allocation (at most
    the sum of every D) x each rate's numerator plus its denominator (the CEIL of cash).
    """
    most = sum(distributable)
    return all(d * v <= BIGINT_MAX for d, v in zip(distributable, largest_volume, strict=True)) and all(
        most * num + den <= BIGINT_MAX for num, den in rates
    )
