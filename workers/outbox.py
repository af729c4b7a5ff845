"""Run an outbox job at most once to completion, however often arq delivers it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from arq import Retry
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import logs
from domain.errors import InvalidInputError, NotFoundError
from domain.jobs import service as outbox
from domain.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], AsyncSession, Mapping[str, Any]], Awaitable[None]]
# Called in the transaction that marks the job failed for good, with the reason (e.g. fail the run it computes).
GiveUp = Callable[[dict[str, Any], AsyncSession, Mapping[str, Any], str], Awaitable[None]]

# The rules refused the job's input, or its subject is gone: another try gives the same answer.
PERMANENT_ERRORS = (InvalidInputError, NotFoundError)

MAX_BACKOFF_SECONDS = 300


def outbox_job(name: str, handler: Handler, on_give_up: GiveUp | None = None) -> Callable[..., Awaitable[str]]:
    """An arq function `name(business_key)` that runs `handler` in one unit of work.

    The job's outbox row is locked for the run and marked done in the same
    transaction as the handler's work, so a duplicate delivery finds it done.
    A refused input fails the job at once; other errors retry with backoff
    until `outbox.MAX_ATTEMPTS` failed tries, then the job gives up.
    """

    async def run(ctx: dict[str, Any], business_key: str) -> str:
        token = logs.job_id.set(str(ctx.get("job_id") or business_key))
        try:
            return await _run(ctx, business_key)
        finally:
            logs.job_id.reset(token)

    async def _run(ctx: dict[str, Any], business_key: str) -> str:
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
            reason = _reason(exc)
            async with UnitOfWork(session_maker) as uow:
                attempts = await outbox.record_failure(uow.session, business_key, reason)
                await uow.commit()
            if isinstance(exc, PERMANENT_ERRORS) or attempts >= outbox.MAX_ATTEMPTS:
                await _give_up(ctx, business_key, reason, on_give_up)
                return "failed"
            defer = min(2 ** ctx.get("job_try", 1), MAX_BACKOFF_SECONDS)
            raise Retry(defer=defer) from exc
        return "done"

    run.__name__ = run.__qualname__ = name
    return run


def _reason(exc: Exception) -> str:
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, InvalidInputError):
        reason = "; ".join([reason, *(f"{e.field}: {e.message}" for e in exc.errors)])
    return reason


async def _give_up(ctx: dict[str, Any], business_key: str, reason: str, on_give_up: GiveUp | None) -> None:
    log.error("job gave up", extra={"business_key": business_key, "reason": reason})
    async with UnitOfWork(ctx["session_maker"], ctx.get("job_queue")) as uow:
        job = await outbox.give_up(uow.session, business_key, reason)
        if job is not None and on_give_up is not None:
            await on_give_up(ctx, uow.session, job.payload, reason)
        await uow.commit()
