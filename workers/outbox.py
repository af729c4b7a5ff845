"""Run an outbox job at most once to completion, however often arq delivers it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from arq import Retry
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.jobs import service as outbox
from domain.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], AsyncSession, Mapping[str, Any]], Awaitable[None]]

MAX_BACKOFF_SECONDS = 300


def outbox_job(name: str, handler: Handler) -> Callable[..., Awaitable[str]]:
    """An arq function `name(business_key)` that runs `handler` in one unit of work.

    The job's outbox row is locked for the run and marked done in the same
    transaction as the handler's work, so a duplicate delivery finds it done.
    """

    async def run(ctx: dict[str, Any], business_key: str) -> str:
        session_maker = ctx["session_maker"]
        try:
            async with UnitOfWork(session_maker, ctx["job_queue"]) as uow:
                job = await outbox.claim(uow.session, business_key)
                if job is None:
                    return "already done"
                await handler(ctx, uow.session, job.payload)
                outbox.finish(job)
                await uow.commit()
        except Exception as exc:
            log.warning("job failed", extra={"job": name, "business_key": business_key}, exc_info=True)
            async with UnitOfWork(session_maker) as uow:
                await outbox.record_failure(uow.session, business_key, f"{type(exc).__name__}: {exc}")
                await uow.commit()
            defer = min(2 ** ctx.get("job_try", 1), MAX_BACKOFF_SECONDS)
            raise Retry(defer=defer) from exc
        return "done"

    run.__name__ = run.__qualname__ = name
    return run
