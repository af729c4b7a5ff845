"""A member's value of membership for a fiscal year, read from buying, programmes, allocation and the ledger.

Every money figure is read where it is kept: group-buy spend and savings from the member's
settled order lines (each with its pinned price version), direct purchases from programme
patronage, rebates passed through and equity from the ledger, patronage from the year's
posted allocation run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.allocation.service import posted_run
from domain.allocation.tables import AllocationLine
from domain.buying.rules import OrderStatus
from domain.buying.tables import LINE_ITEM, BuyOrder, GroupBuy, GroupBuyItem, OrderLine
from domain.catalog.tables import ProductPriceTier
from domain.errors import NotFoundError
from domain.ledger import chart
from domain.ledger.rules import Side
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.membership.tables import Member
from domain.patronage.tables import PatronageRecord
from domain.programmes.margins import fiscal_year_range
from domain.programmes.tables import Claim
from domain.statements.rules import EquityRollForward, ValueFigures, line_savings_cents, statement_fiscal_year
from domain.statements.views import ValueStatement

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

PASS_THROUGH_KEY_PREFIX = "programme_pass_through:"  # noqa: S105 - a journal key, not a password


async def _group_buys(session: AsyncSession, member_id: int, start: datetime, end: datetime) -> tuple[int, int]:
    """The member's charges for buys settled in the range, and the savings on their lines."""
    first_tier = (
        sa.select(col(ProductPriceTier.unit_price_cents))
        .where(col(ProductPriceTier.price_version_id) == col(GroupBuyItem.price_version_id))
        .order_by(col(ProductPriceTier.min_quantity))
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(
        sa.select(
            sa.func.coalesce(col(OrderLine.total_cents), 0),
            sa.func.coalesce(col(OrderLine.unit_price_cents), 0),
            sa.func.coalesce(col(OrderLine.delivered_quantity), 0),
            first_tier,
        )
        .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
        .join(GroupBuy, col(GroupBuy.id) == col(OrderLine.group_buy_id))
        .join(
            GroupBuyItem,
            LINE_ITEM,
        )
        .where(
            col(BuyOrder.member_id) == member_id,
            col(BuyOrder.status) == OrderStatus.SETTLED.value,
            col(GroupBuy.settled_at) >= start,
            col(GroupBuy.settled_at) < end,
        )
    )
    spend = savings = 0
    for total, paid, units, first in rows.all():
        spend += int(total)
        # A line without a pinned version (none before prices were pinned) shows no saving.
        savings += line_savings_cents(int(paid if first is None else first), int(paid), int(units))
    return spend, savings


async def _direct(session: AsyncSession, member_id: int, fiscal_year: int) -> int:
    """Purchases the member made directly from contracted suppliers (accepted report lines, corrections included)."""
    total = await session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(col(PatronageRecord.amount_cents)), 0)).where(
            col(PatronageRecord.member_id) == member_id,
            col(PatronageRecord.fiscal_year) == fiscal_year,
            col(PatronageRecord.source) == "programme",
        )
    )
    return int(total.scalar_one())


async def _rebates(session: AsyncSession, member_id: int, start: datetime, end: datetime) -> int:
    """Pass-through credited to the member's trade account for claims whose period ended in the year."""
    key = sa.func.concat(PASS_THROUGH_KEY_PREFIX, sa.cast(col(Claim.id), sa.Text))
    total = await session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)), 0))
        .select_from(Claim)
        .join(JournalEntry, col(JournalEntry.idempotency_key) == key)
        .join(Posting, col(Posting.entry_id) == col(JournalEntry.id))
        .join(Account, col(Account.id) == col(Posting.account_id))
        .where(
            col(Claim.period_end) >= start.date(),
            col(Claim.period_end) < end.date(),
            col(Account.code) == chart.member_trade(member_id).code,
            col(Posting.side) == Side.CREDIT.value,
        )
    )
    return int(total.scalar_one())


# The member's capital movements: its share and preferred accounts' postings; its equity lots'
# faces, dated by the entries that posted them, and the postings that name its lots (migration
# 0041; a lot written before it also has its own account, left out of the first part so that
# nothing is counted twice: its face is the lot's, its other postings name it).
_EQUITY_MOVES = sa.text("""
WITH move AS (
  SELECT je.occurred_at, p.side, p.amount_cents, false AS lot
    FROM posting p
    JOIN ledger_account a ON a.id = p.account_id
    JOIN journal_entry je ON je.id = p.entry_id
   WHERE a.member_id = :member AND a.kind = 'equity' AND a.code NOT LIKE :lot_accounts
  UNION ALL
  SELECT je.occurred_at, p.side, p.amount_cents, true
    FROM equity_lot l
    JOIN posting p ON p.equity_lot_id = l.id
    JOIN journal_entry je ON je.id = p.entry_id
   WHERE l.member_id = :member
  UNION ALL
  SELECT je.occurred_at, 'credit', l.face_cents, true
    FROM equity_lot l
    JOIN journal_entry je ON je.id = l.entry_id
   WHERE l.member_id = :member
)
SELECT coalesce(sum(CASE WHEN side = 'credit' THEN amount_cents ELSE -amount_cents END)
                FILTER (WHERE occurred_at < :start), 0),
       coalesce(sum(amount_cents) FILTER (WHERE during AND side = 'credit' AND NOT lot), 0),
       coalesce(sum(amount_cents) FILTER (WHERE during AND side = 'credit' AND lot), 0),
       coalesce(sum(amount_cents) FILTER (WHERE during AND side = 'debit'), 0)
  FROM (SELECT move.*, occurred_at >= :start AND occurred_at < :end AS during FROM move) m
""").bindparams(
    sa.bindparam("start", type_=sa.DateTime(timezone=True)), sa.bindparam("end", type_=sa.DateTime(timezone=True))
)


async def _equity(session: AsyncSession, member_id: int, start: datetime, end: datetime) -> EquityRollForward:
    """The member's capital accounts (shares, preferred shares, retained equity lots) over the year."""
    row = (
        await session.execute(
            _EQUITY_MOVES,
            {"member": member_id, "lot_accounts": chart.EQUITY_LOT_PATTERN, "start": start, "end": end},
        )
    ).one()
    return EquityRollForward(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


async def value_statement(
    session: AsyncSession, member_id: int, requested_year: int | None, *, today: date, fiscal_year_start_month: int
) -> ValueStatement:
    """The member's value of membership in the fiscal year asked for (or today's); 404 for no such member."""
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFoundError(f"member {member_id} not found")
    fiscal_year = statement_fiscal_year(requested_year, today, fiscal_year_start_month)
    start, end = fiscal_year_range(fiscal_year, fiscal_year_start_month)
    group_buy_cents, savings = await _group_buys(session, member_id, start, end)
    run = await posted_run(session, fiscal_year)
    line = None
    if run is not None:
        line = (
            await session.exec(
                select(AllocationLine).where(
                    col(AllocationLine.run_id) == run.id, col(AllocationLine.member_id) == member_id
                )
            )
        ).one_or_none()
    figures = ValueFigures(
        group_buy_cents=group_buy_cents,
        direct_cents=await _direct(session, member_id, fiscal_year),
        savings_cents=savings,
        rebates_cents=await _rebates(session, member_id, start, end),
        patronage_cash_cents=line.cash_cents if line else 0,
        patronage_retained_cents=line.retained_cents if line else 0,
        equity=await _equity(session, member_id, start, end),
    )
    return ValueStatement(
        member_id=member_id,
        member_number=member.member_number,
        member_name=member.name,
        fiscal_year=fiscal_year,
        first_day=start.date(),
        last_day=(end - timedelta(days=1)).date(),
        figures=figures,
        allocation_run_id=run.id if run else None,
    )
