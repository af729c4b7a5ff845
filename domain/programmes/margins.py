"""Each pool's margin from the books, and the expenses staff enter against a pool, for the year end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.errors import InvalidInputError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import Side
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.patronage.rules import fiscal_year_end, fiscal_year_of, utc_day_range
from domain.programmes.rules import (
    ExpensePaidFrom,
    add_months,
    expense_errors,
)
from domain.programmes.tables import (
    PoolExpense,
)
from domain.programmes.views import (
    ExpenseView,
    PoolMargin,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession


async def pool_margins(session: AsyncSession, fiscal_year: int, *, fiscal_year_start_month: int) -> list[PoolMargin]:
    """Each pool's programme margin in a fiscal year, read from the ledger (rebates + fees - pass-through).

    Claims are dated on their period's last day, so a period counts in the year it ended in.
    """
    last = fiscal_year_end(fiscal_year, fiscal_year_start_month)
    start, end = utc_day_range(add_months(last, -12) + timedelta(days=1), last)
    signed = sa.case(
        (col(Posting.side) == Side.CREDIT.value, col(Posting.amount_cents)), else_=-col(Posting.amount_cents)
    )
    rows = await session.execute(
        sa.select(col(Account.code), sa.func.sum(signed))
        .join(Posting, col(Posting.account_id) == col(Account.id))
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(
            col(Account.code).like(chart.PROGRAMME_PATTERN),
            col(JournalEntry.occurred_at) >= start,
            col(JournalEntry.occurred_at) < end,
        )
        .group_by(col(Account.code))
    )
    found: dict[str, dict[str, int]] = {}
    for code, credit_minus_debit in rows.all():
        pool, _, what = str(code).removeprefix(chart.PROGRAMME_CODE_PREFIX).rpartition(":")
        found.setdefault(pool, {})[what] = int(credit_minus_debit)
    return [
        PoolMargin(
            pool=pool,
            rebate_income_cents=parts.get("rebate_income", 0),
            fee_income_cents=parts.get("fee_income", 0),
            pass_through_cents=-parts.get("pass_through", 0),
        )
        for pool, parts in sorted(found.items())
    ]


def fiscal_year_range(fiscal_year: int, fiscal_year_start_month: int) -> tuple[datetime, datetime]:
    """The fiscal year as a half-open range of UTC instants, as its ledger entries are dated."""
    last = fiscal_year_end(fiscal_year, fiscal_year_start_month)
    start, end = utc_day_range(add_months(last, -12) + timedelta(days=1), last)
    assert start is not None  # noqa: S101 - both days given
    assert end is not None  # noqa: S101
    return start, end


@dataclass(frozen=True, slots=True)
class NewExpense:
    """What staff enter: the pool, the day it was incurred, the amount, where the money came from."""

    pool: str
    incurred_on: date
    amount_cents: int
    paid_from: ExpensePaidFrom
    description: str


def _paid_from_account(paid_from: ExpensePaidFrom) -> chart.AccountSpec:
    return {
        ExpensePaidFrom.BANK: chart.BANK,
        ExpensePaidFrom.CASH: chart.CASH,
        ExpensePaidFrom.ACCRUED: chart.ACCRUED_EXPENSES,
    }[paid_from]


def _expense_view(row: PoolExpense) -> ExpenseView:
    assert row.id is not None  # noqa: S101 - stored
    return ExpenseView(
        row.id, row.pool, row.incurred_on, row.fiscal_year, row.amount_cents, row.paid_from, row.description
    )


async def record_expense(
    session: AsyncSession, new: NewExpense, *, actor: int, fiscal_year_start_month: int
) -> ExpenseView:
    """Store the expense and post it, dated the day it was incurred, so it counts in that day's fiscal year.

    Debit the pool's expense account, credit the bank, the till or accrued expenses; a negative
    amount (a correction) posts the other way round.
    """
    if errors := expense_errors(new.pool, new.amount_cents):
        raise InvalidInputError("the expense is not valid", errors)
    row = PoolExpense(
        pool=new.pool,
        incurred_on=new.incurred_on,
        fiscal_year=fiscal_year_of(new.incurred_on, fiscal_year_start_month),
        amount_cents=new.amount_cents,
        paid_from=new.paid_from.value,
        description=new.description,
        created_by=actor,
    )
    session.add(row)
    await session.flush()
    expense, source = chart.pool_expenses(new.pool), _paid_from_account(new.paid_from)
    debit, credit = (expense, source) if new.amount_cents > 0 else (source, expense)
    await ledger.transfer(
        session,
        debit=debit,
        credit=credit,
        amount_cents=abs(new.amount_cents),
        kind="pool_expense",
        idempotency_key=f"pool_expense:{row.id}",
        occurred_at=datetime.combine(new.incurred_on, time(), tzinfo=UTC),
        memo=f"{new.pool}: {new.description}"[:500],
    )
    return _expense_view(row)


async def list_expenses(session: AsyncSession, fiscal_year: int, pool: str | None = None) -> list[ExpenseView]:
    """A fiscal year's expenses (of one pool, if named), oldest first."""
    query = select(PoolExpense).where(col(PoolExpense.fiscal_year) == fiscal_year)
    if pool is not None:
        query = query.where(col(PoolExpense.pool) == pool)
    rows = await session.exec(query.order_by(col(PoolExpense.incurred_on), col(PoolExpense.id)))
    return [_expense_view(r) for r in rows.all()]


async def pool_expense_balances(
    session: AsyncSession, fiscal_year: int, pools: Sequence[str], *, fiscal_year_start_month: int
) -> dict[str, int]:
    """Per pool, the expenses still open in its account for the year (the year's closing entry empties it)."""
    start, end = fiscal_year_range(fiscal_year, fiscal_year_start_month)
    signed = sa.case(
        (col(Posting.side) == Side.DEBIT.value, col(Posting.amount_cents)), else_=-col(Posting.amount_cents)
    )
    codes = {chart.pool_expenses(pool).code: pool for pool in pools}
    rows = await session.execute(
        sa.select(col(Account.code), sa.func.sum(signed))
        .join(Posting, col(Posting.account_id) == col(Account.id))
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(
            col(Account.code).in_(sorted(codes)),
            col(JournalEntry.occurred_at) >= start,
            col(JournalEntry.occurred_at) < end,
        )
        .group_by(col(Account.code))
    )
    return {codes[str(code)]: int(total) for code, total in rows.all()}
