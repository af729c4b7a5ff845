"""Pool margins from the books: what an allocation run takes when staff do not type them.

A pool's net margin (DOMAIN.md section 3) is its supplier-programme margin (rebate and fee
income less pass-through, section 8), plus the markup of the group buys settled in the year
in the pool, less the expenses staff entered against it. Posting the run closes those figures
to the year's income summary (one entry per pool, ``margin_close:<fy>:<pool>``), so the books
then show nothing left to allocate for that year: a second run cannot take the same margin.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col

from domain.buying.rules import OrderStatus
from domain.buying.tables import LINE_ITEM, BuyOrder, GroupBuy, GroupBuyItem, OrderLine
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.patronage.rules import fiscal_year_end
from domain.programmes import margins as programmes
from domain.programmes.rules import BookAccount, PoolBooks, closing_legs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession

SOURCE_BOOKS = "books"
SOURCE_TYPED = "typed"


def closing_key(fiscal_year: int, pool: str) -> str:
    """The one closing entry of a pool's fiscal year (the ledger's unique key keeps it one)."""
    return f"margin_close:{fiscal_year}:{pool}"


async def _group_buys(
    session: AsyncSession, start: datetime, end: datetime, pools: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Per pool: member charges (markup included) and supplier cost of the lines of buys settled in the range."""
    rows = await session.execute(
        sa.select(
            col(GroupBuyItem.pool),
            sa.func.coalesce(sa.func.sum(col(OrderLine.total_cents)), 0),
            sa.func.coalesce(sa.func.sum(col(OrderLine.delivered_quantity) * col(OrderLine.unit_price_cents)), 0),
        )
        .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
        .join(GroupBuy, col(GroupBuy.id) == col(OrderLine.group_buy_id))
        .join(
            GroupBuyItem,
            LINE_ITEM,
        )
        .where(
            col(BuyOrder.status) == OrderStatus.SETTLED.value,
            col(GroupBuy.settled_at) >= start,
            col(GroupBuy.settled_at) < end,
            col(GroupBuyItem.pool).in_(list(pools)),
        )
        .group_by(col(GroupBuyItem.pool))
    )
    return {str(pool): (int(sales), int(cost)) for pool, sales, cost in rows.all()}


async def _closed_group_buys(
    session: AsyncSession, fiscal_year: int, pools: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Per pool: the sales and cost an earlier closing entry of the year already took out of the books."""
    keys = {closing_key(fiscal_year, pool): pool for pool in pools}
    rows = await session.execute(
        sa.select(col(JournalEntry.idempotency_key), col(Account.code), sa.func.sum(col(Posting.amount_cents)))
        .join(Posting, col(Posting.entry_id) == col(JournalEntry.id))
        .join(Account, col(Account.id) == col(Posting.account_id))
        .where(
            col(JournalEntry.idempotency_key).in_(sorted(keys)),
            col(Account.code).in_([chart.SALES.code, chart.COST_OF_GOODS.code]),
        )
        .group_by(col(JournalEntry.idempotency_key), col(Account.code))
    )
    closed: dict[str, tuple[int, int]] = {}
    for key, code, cents in rows.all():
        sales, cost = closed.get(keys[str(key)], (0, 0))
        closed[keys[str(key)]] = (sales + int(cents), cost) if code == chart.SALES.code else (sales, cost + int(cents))
    return closed


async def book_margins(
    session: AsyncSession, fiscal_year: int, pools: Sequence[str], *, fiscal_year_start_month: int
) -> list[PoolBooks]:
    """Each pool's figures for the year as the books show them now, in the order the pools are given."""
    start, end = programmes.fiscal_year_range(fiscal_year, fiscal_year_start_month)
    programme = {
        m.pool: m
        for m in await programmes.pool_margins(session, fiscal_year, fiscal_year_start_month=fiscal_year_start_month)
    }
    expenses = await programmes.pool_expense_balances(
        session, fiscal_year, pools, fiscal_year_start_month=fiscal_year_start_month
    )
    bought = await _group_buys(session, start, end, pools)
    closed = await _closed_group_buys(session, fiscal_year, pools)
    books = []
    for pool in pools:
        sales, cost = bought.get(pool, (0, 0))
        closed_sales, closed_cost = closed.get(pool, (0, 0))
        margin = programme.get(pool)
        books.append(
            PoolBooks(
                pool=pool,
                rebate_income_cents=margin.rebate_income_cents if margin else 0,
                fee_income_cents=margin.fee_income_cents if margin else 0,
                pass_through_cents=margin.pass_through_cents if margin else 0,
                group_buy_sales_cents=sales - closed_sales,
                group_buy_cost_cents=cost - closed_cost,
                expenses_cents=expenses.get(pool, 0),
            )
        )
    return books


def derivation_json(books: PoolBooks) -> dict[str, Any]:
    """A pool's derivation as stored on the run and shown: every figure and the net margin."""
    return {
        "pool": books.pool,
        "rebate_income_cents": books.rebate_income_cents,
        "fee_income_cents": books.fee_income_cents,
        "pass_through_cents": books.pass_through_cents,
        "group_buy_sales_cents": books.group_buy_sales_cents,
        "group_buy_cost_cents": books.group_buy_cost_cents,
        "group_buy_markup_cents": books.group_buy_markup_cents,
        "expenses_cents": books.expenses_cents,
        "net_margin_cents": books.net_margin_cents,
    }


def books_of(derivation: dict[str, Any]) -> PoolBooks:
    """The stored derivation back as figures."""
    return PoolBooks(
        pool=str(derivation["pool"]),
        rebate_income_cents=int(derivation["rebate_income_cents"]),
        fee_income_cents=int(derivation["fee_income_cents"]),
        pass_through_cents=int(derivation["pass_through_cents"]),
        group_buy_sales_cents=int(derivation["group_buy_sales_cents"]),
        group_buy_cost_cents=int(derivation["group_buy_cost_cents"]),
        expenses_cents=int(derivation["expenses_cents"]),
    )


def _spec(account: BookAccount, pool: str, fiscal_year: int) -> chart.AccountSpec:
    return {
        BookAccount.REBATE_INCOME: chart.programme_rebate_income(pool),
        BookAccount.FEE_INCOME: chart.programme_fee_income(pool),
        BookAccount.PASS_THROUGH: chart.programme_pass_through(pool),
        BookAccount.SALES: chart.SALES,
        BookAccount.COST_OF_GOODS: chart.COST_OF_GOODS,
        BookAccount.EXPENSES: chart.pool_expenses(pool),
        BookAccount.INCOME_SUMMARY: chart.income_summary(fiscal_year),
    }[account]


async def close_books(
    session: AsyncSession, fiscal_year: int, derivation: Sequence[dict[str, Any]], *, fiscal_year_start_month: int
) -> None:
    """Close each pool's figures, as the run took them, to the year's income summary.

    Dated on the fiscal year's last day, so that the year's accounts then read what is still
    unallocated: nothing, unless something was posted after the run was started. Idempotent:
    the same closing again is the same entry; a different one for the same pool and year is refused.
    """
    occurred = datetime.combine(fiscal_year_end(fiscal_year, fiscal_year_start_month), time(), tzinfo=UTC)
    for pool_json in derivation:
        books = books_of(pool_json)
        legs = closing_legs(books)
        if not legs:
            continue
        lines = [
            PostingLine(await ledger.account_id(session, _spec(account, books.pool, fiscal_year)), side, cents)
            for account, side, cents in legs
        ]
        await ledger.lock_accounts(session, sorted({line.account_id for line in lines}))
        await ledger.post_entry(
            session,
            kind="year_end_close",
            idempotency_key=closing_key(fiscal_year, books.pool),
            occurred_at=occurred,
            lines=lines,
            memo=f"pool {books.pool} FY{fiscal_year} closed to the income summary",
        )
