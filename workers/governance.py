"""The ballot clock: an arq cron every minute that opens, reminds and closes ballots on time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.governance import counting
from domain.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from domain.db import SessionMaker
    from domain.jobs.queue import JobQueue

log = logging.getLogger(__name__)


async def run_clock(
    session_maker: SessionMaker, queue: JobQueue | None, *, now: datetime | None = None
) -> dict[str, int]:
    """Open scheduled ballots, remind before the close, close and count ballots past `closes_at`.

    Each ballot is handled in its own unit of work, so one failure does not hold up the
    others; running the clock twice (or on two workers) is harmless, as every step
    re-checks under the ballot's lock.
    """
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker) as uow:
        steps = await counting.due_steps(uow.session, now=now)
    counts = {"opened": 0, "closed": 0, "reminded": 0, "failed": 0}
    for step in steps:
        try:
            async with UnitOfWork(session_maker, queue) as uow:
                done = await counting.STEPS[step.name](uow.session, step.ballot_id, now=now)
                await uow.commit()
        except Exception:
            log.exception("ballot clock step failed", extra={"step": step.name, "ballot_id": step.ballot_id})
            counts["failed"] += 1
            continue
        counts[step.name] += int(done)
    return counts


async def ballot_clock(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: every step re-checks the ballot under its lock, so a rerun (or a second worker) does nothing."""
    return await run_clock(ctx["session_maker"], ctx.get("job_queue"))
