"""Read-only lists of allocation runs: staff's list of runs, and a member's notices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.allocation.rules import AllocationRunStatus
from domain.allocation.tables import AllocationLine, AllocationRun

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def run_page(
    session: AsyncSession, *, after_id: int, limit: int, fiscal_year: int | None = None, status: str | None = None
) -> list[AllocationRun]:
    """Runs in id order after a cursor, optionally of one fiscal year and in one status."""
    query = select(AllocationRun).where(col(AllocationRun.id) > after_id)
    if fiscal_year is not None:
        query = query.where(col(AllocationRun.fiscal_year) == fiscal_year)
    if status is not None:
        query = query.where(col(AllocationRun.status) == status)
    return list((await session.exec(query.order_by(col(AllocationRun.id)).limit(limit))).all())


async def member_notices(
    session: AsyncSession, member_id: int, *, after_run_id: int, limit: int
) -> list[tuple[AllocationRun, AllocationLine]]:
    """The member's lines in posted runs that gave it something: exactly the notices it has, in run order.

    A computed run is a proposal until staff approve it, and a line below the minimum has
    no notice (reports.notice answers 404 for both), so neither is listed.
    """
    rows = await session.exec(
        select(AllocationRun, AllocationLine)
        .join(AllocationLine, col(AllocationLine.run_id) == col(AllocationRun.id))
        .where(
            col(AllocationLine.member_id) == member_id,
            col(AllocationRun.status) == AllocationRunStatus.POSTED.value,
            col(AllocationLine.allocation_cents) != 0,
            col(AllocationRun.id) > after_run_id,
        )
        .order_by(col(AllocationRun.id))
        .limit(limit)
    )
    return [(run, line) for run, line in rows.all()]
