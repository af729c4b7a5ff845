"""Record jobs with the change that asks for them; relay, claim and finish them."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.db import utc_now
from domain.jobs.tables import OutboxJob

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.jobs.queue import JobQueue

log = logging.getLogger(__name__)

_PENDING_KEYS = "outbox_pending_keys"

# Failed tries before a job gives up. Kept below arq's max_tries (workers/main.py), so
# the outbox, not arq, decides; with the backoff 2, 4, 8, 16 s that is about half a minute.
MAX_ATTEMPTS = 5


async def add(session: AsyncSession, job_name: str, business_key: str, payload: Mapping[str, Any]) -> None:
    """Record a job in the caller's transaction; the same business key is recorded once."""
    await session.execute(
        insert(OutboxJob)
        .values(job_name=job_name, business_key=business_key, payload=dict(payload))
        .on_conflict_do_nothing(index_elements=["business_key"])
    )
    remember(session, [business_key])


def remember(session: AsyncSession, business_keys: Sequence[str]) -> None:
    """Note jobs recorded in this session, to relay once it commits (``take_pending_keys``)."""
    session.info.setdefault(_PENDING_KEYS, []).extend(business_keys)


def take_pending_keys(session: AsyncSession) -> list[str]:
    """Keys recorded in this session since the last call, to relay once it commits."""
    keys: list[str] = session.info.pop(_PENDING_KEYS, [])
    return keys


async def relay(session: AsyncSession, queue: JobQueue, keys: list[str] | None = None) -> int:
    """Hand committed jobs to the queue (these keys, or every one that is due) and mark them enqueued.

    A failure here loses nothing: the sweeper finds the row again.
    """
    now = utc_now()
    query = sa.select(col(OutboxJob.id), col(OutboxJob.job_name), col(OutboxJob.business_key)).where(
        col(OutboxJob.done_at).is_(None), col(OutboxJob.failed_at).is_(None)
    )
    if keys is not None:
        query = query.where(col(OutboxJob.business_key).in_(keys))
    else:
        stale = now - timedelta(minutes=5)
        query = query.where(sa.or_(col(OutboxJob.enqueued_at).is_(None), col(OutboxJob.enqueued_at) < stale))
    rows = (await session.execute(query.order_by(col(OutboxJob.id)).limit(1000))).all()
    for row in rows:
        await queue.enqueue(row.job_name, row.business_key)
    if rows:
        await session.execute(
            sa.update(OutboxJob).where(col(OutboxJob.id).in_([r.id for r in rows])).values(enqueued_at=now)
        )
    return len(rows)


async def claim(session: AsyncSession, business_key: str) -> OutboxJob | None:
    """Lock the job's row for this run; None when it is unknown, done, or given up."""
    job = (
        await session.exec(select(OutboxJob).where(col(OutboxJob.business_key) == business_key).with_for_update())
    ).one_or_none()
    if job is None or job.done_at is not None or job.failed_at is not None:
        return None
    job.attempts += 1
    return job


def finish(job: OutboxJob) -> None:
    """Mark the job done in the transaction that did its work."""
    job.done_at = utc_now()
    job.last_error = None


async def record_failure(session: AsyncSession, business_key: str, error: str) -> int:
    """Keep the last error on the row for staff; the job stays pending. Returns the failed tries so far."""
    attempts = (
        await session.execute(
            sa.update(OutboxJob)
            .where(col(OutboxJob.business_key) == business_key)
            .values(last_error=error[:2000], attempts=col(OutboxJob.attempts) + 1)
            .returning(col(OutboxJob.attempts))
        )
    ).scalar_one_or_none()
    return int(attempts or 0)


async def give_up(session: AsyncSession, business_key: str, error: str) -> OutboxJob | None:
    """Mark the job failed for good, in the caller's transaction; None if it finished meanwhile."""
    job = await claim(session, business_key)
    if job is None:
        return None
    job.attempts -= 1  # claim counted a try; this is not one
    job.failed_at = utc_now()
    job.last_error = error[:2000]
    return job
