"""The network clock: an arq cron that sends event reminders and sweeps spent rate windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.network import clock
from domain.network.rules import PUBLIC_DIRECTORY_LIMIT
from domain.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from domain.db import SessionMaker
    from domain.jobs.queue import JobQueue


async def run_clock(
    session_maker: SessionMaker, queue: JobQueue | None, *, now: datetime | None = None
) -> dict[str, int]:
    """Reminders (once per registration, through the outbox) and the sweep, each in its own unit of work."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker, queue) as uow:
        reminded = await clock.send_reminders(uow.session, now=now)
        await uow.commit()
    async with UnitOfWork(session_maker) as uow:
        swept = await clock.sweep_rate_windows(uow.session, now=now, limit=PUBLIC_DIRECTORY_LIMIT)
        await uow.commit()
    return {"reminded": reminded, "windows_swept": swept}


async def network_clock(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: a registration reminded once is never reminded again, and a swept window is gone."""
    return await run_clock(ctx["session_maker"], ctx.get("job_queue"))
