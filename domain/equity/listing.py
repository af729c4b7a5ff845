"""Read-only lists of redemption: staff's list of runs, and what a member's lots gave up."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.equity.rules import RedemptionRunStatus
from domain.equity.tables import RedemptionLine, RedemptionRun
from domain.patronage.rules import fiscal_year_end

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def run_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    status: str | None = None,
    method: str | None = None,
    fiscal_year: int | None = None,
    fiscal_year_start_month: int = 1,
) -> list[RedemptionRun]:
    """Runs in id order after a cursor; ``fiscal_year`` is the co-op's fiscal year of the run's ``as_of``."""
    query = select(RedemptionRun).where(col(RedemptionRun.id) > after_id)
    if status is not None:
        query = query.where(col(RedemptionRun.status) == status)
    if method is not None:
        query = query.where(col(RedemptionRun.method) == method)
    if fiscal_year is not None:
        first = fiscal_year_end(fiscal_year - 1, fiscal_year_start_month) + timedelta(days=1)
        last = fiscal_year_end(fiscal_year, fiscal_year_start_month)
        query = query.where(col(RedemptionRun.as_of) >= first, col(RedemptionRun.as_of) <= last)
    return list((await session.exec(query.order_by(col(RedemptionRun.id)).limit(limit))).all())


async def member_redemptions(
    session: AsyncSession, member_id: int, *, after_id: int, limit: int
) -> list[tuple[RedemptionLine, RedemptionRun]]:
    """The member's lines in posted runs, in line order.

    A computed run is a board proposal: nothing of the member's was redeemed until it is
    approved, so its lines are not the member's redemptions.
    """
    rows = await session.exec(
        select(RedemptionLine, RedemptionRun)
        .join(RedemptionRun, col(RedemptionRun.id) == col(RedemptionLine.run_id))
        .where(
            col(RedemptionLine.member_id) == member_id,
            col(RedemptionRun.status) == RedemptionRunStatus.POSTED.value,
            col(RedemptionLine.id) > after_id,
        )
        .order_by(col(RedemptionLine.id))
        .limit(limit)
    )
    return [(line, run) for line, run in rows.all()]
