"""Claim a key before the work, store the answer after it."""

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


async def claim(session: AsyncSession, *, caller: str, key: str, digest: str, now: datetime) -> StoredAnswer | None:
    """Claim the key for this request (None: go ahead), or return the answer to replay.

    Commits the claim at once so a concurrent duplicate sees it and waits its turn.
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
        await session.commit()
        return None
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
    record.started_at = now  # the earlier attempt died: take the key over
    await session.commit()
    return None


async def complete(session: AsyncSession, *, caller: str, key: str, answer: StoredAnswer) -> None:
    """Store the final answer for replay."""
    await session.execute(
        sa.update(IdempotencyRecord)
        .where(col(IdempotencyRecord.caller) == caller, col(IdempotencyRecord.key) == key)
        .values(
            state="completed",
            status_code=answer.status_code,
            response_headers=answer.headers,
            response_body=answer.body,
        )
    )
    await session.commit()


async def release(session: AsyncSession, *, caller: str, key: str) -> None:
    """Forget a claim whose request failed on our side, so a retry can run."""
    await session.execute(
        sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.caller) == caller, col(IdempotencyRecord.key) == key)
    )
    await session.commit()
