"""The group buy clock (an arq cron every minute that opens, reminds and closes buys on time) and settlement."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.buying import clock, settlement
from domain.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.jobs.queue import JobQueue

log = logging.getLogger(__name__)


async def run_clock(
    session_maker: SessionMaker, queue: JobQueue | None, *, now: datetime | None = None
) -> dict[str, int]:
    """Open scheduled buys, remind before deadlines, close buys past their deadline.

    Each buy is handled in its own unit of work, so one failure does not hold up the others;
    running the clock twice (or on two workers) is harmless, as every step re-checks under
    the row lock.
    """
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker) as uow:
        steps = await clock.due_steps(uow.session, now=now)
    counts = {"opened": 0, "closed": 0, "reminded": 0, "failed": 0}
    for step in steps:
        try:
            async with UnitOfWork(session_maker, queue) as uow:
                done = await step.run(uow.session, step.group_buy_id, now=now)
                await uow.commit()
        except Exception:
            log.exception("group buy clock step failed", extra={"step": step.name, "group_buy_id": step.group_buy_id})
            counts["failed"] += 1
            continue
        counts[step.name] += int(done)
    return counts


async def group_buy_clock(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: every step re-checks the buy under its row lock, so a rerun (or a second worker) does nothing."""
    return await run_clock(ctx["session_maker"], ctx.get("job_queue"))


async def settle_group_buy(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Settle a delivered buy once; a second delivery of the job finds it settled and changes nothing."""
    await settlement.settle(
        session,
        int(payload["group_buy_id"]),
        now=datetime.now(UTC),
        fiscal_year_start_month=ctx["settings"].policy.fiscal_year_start_month,
        marketing_pool=ctx["settings"].policy.marketing_pool,
    )
