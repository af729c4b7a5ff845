"""Claim a key before the work; store the answer in the work's own transaction.

The claim is committed on its own, so a concurrent duplicate sees it and waits its
turn. The answer is written by the unit of work that commits the work, so the two
are durable together: a key is never left `started` while its work is committed,
and a retry after a crash either replays the answer or runs work that never happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, IdempotencyKeyReusedError
from domain.idempotency.rules import STALE_AFTER_SECONDS
from domain.idempotency.tables import IdempotencyRecord

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer given the first time, to be replayed."""

    status_code: int
    headers: list[Any]
    body: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    """An attempt's hold on a key; `started_at` tells it apart from a later takeover."""

    caller: str
    key: str
    started_at: datetime


async def claim(session: AsyncSession, *, caller: str, key: str, digest: str, now: datetime) -> Claim | StoredAnswer:
    """Claim the key for this request, or return the answer to replay.

    The caller commits the claim at once. An attempt that started long ago and never
    completed died before its work committed (work and answer commit together), so
    its key is taken over.
    """
    inserted = (
        await session.execute(
            insert(IdempotencyRecord)
            .values(caller=caller, key=key, request_digest=digest, state="started", started_at=now)
            .on_conflict_do_nothing(constraint="uq_idempotency_record_caller_key")
            .returning(col(IdempotencyRecord.id))
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return Claim(caller, key, now)
    record = (
        await session.exec(
            select(IdempotencyRecord)
            .where(col(IdempotencyRecord.caller) == caller, col(IdempotencyRecord.key) == key)
            .with_for_update()
        )
    ).one()
    if record.request_digest != digest:
        msg = "this Idempotency-Key was already used with a different request"
        raise IdempotencyKeyReusedError(msg)
    if record.state == "completed" and record.status_code is not None:
        return StoredAnswer(record.status_code, record.response_headers or [], record.response_body or b"")
    if record.started_at > now - timedelta(seconds=STALE_AFTER_SECONDS):
        msg = "a request with this Idempotency-Key is still being processed; retry shortly"
        raise ConflictError(msg)
    record.started_at = now
    session.add(record)
    await session.flush()
    return Claim(caller, key, now)


async def complete(session: AsyncSession, held: Claim, answer: StoredAnswer) -> bool:
    """Store the answer in the caller's transaction; False when another attempt took the key over."""
    result = await session.execute(
        sa.update(IdempotencyRecord)
        .where(
            col(IdempotencyRecord.caller) == held.caller,
            col(IdempotencyRecord.key) == held.key,
            col(IdempotencyRecord.state) == "started",
            col(IdempotencyRecord.started_at) == held.started_at,
        )
        .values(
            state="completed",
            status_code=answer.status_code,
            response_headers=answer.headers,
            response_body=answer.body,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, held: Claim) -> None:
    """Forget a claim whose request did no work and may be retried."""
    await session.execute(
        sa.delete(IdempotencyRecord).where(
            col(IdempotencyRecord.caller) == held.caller,
            col(IdempotencyRecord.key) == held.key,
            col(IdempotencyRecord.state) == "started",
            col(IdempotencyRecord.started_at) == held.started_at,
        )
    )
