"""The group buy clock (an arq cron, every minute): open on time, remind, close at the deadline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.buying.closing import close_now
from domain.buying.rules import GroupBuyStatus
from domain.buying.service import CLOSING_SOON, MEMBERS, locked_group_buy, notify_opened, pin_prices
from domain.buying.tables import GroupBuy
from domain.jobs import service as outbox
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.jobs.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClockResult:
    """What one tick of the clock did."""

    opened: int
    closed: int
    reminded: int
    failed: int


async def open_if_due(session: AsyncSession, group_buy_id: int, *, now: datetime) -> bool:
    """Open a scheduled buy whose time has come; False when it is not (or no longer) due."""
    group_buy = await locked_group_buy(session, group_buy_id)
    if group_buy.status != GroupBuyStatus.SCHEDULED or group_buy.opens_at > now:
        return False
    group_buy.status = GroupBuyStatus.OPEN.value
    session.add(group_buy)
    await session.flush()
    await pin_prices(session, group_buy_id)
    await notify_opened(session, group_buy)
    return True


async def close_if_due(session: AsyncSession, group_buy_id: int, *, now: datetime) -> bool:
    """Close an open buy whose deadline passed; False when it is not (or no longer) due."""
    group_buy = await locked_group_buy(session, group_buy_id)
    if group_buy.status != GroupBuyStatus.OPEN or group_buy.closes_at > now:
        return False
    await close_now(session, group_buy, now)
    return True


async def remind_if_due(session: AsyncSession, group_buy_id: int, *, now: datetime) -> bool:
    """Tell members an open buy closes within a day; once per deadline (an extension reminds again)."""
    group_buy = await session.get(GroupBuy, group_buy_id)
    if (
        group_buy is None
        or group_buy.status != GroupBuyStatus.OPEN
        or not now < group_buy.closes_at <= now + CLOSING_SOON
    ):
        return False
    await notifications.record(
        session,
        event="group_buy.closing_soon",
        audience=MEMBERS,
        data={"group_buy_id": str(group_buy.id), "closes_at": group_buy.closes_at.isoformat()},
        business_key=f"group_buy:{group_buy.id}:closing_soon:{group_buy.closes_at.isoformat()}",
    )
    return True


async def run_clock(session_maker: SessionMaker, queue: JobQueue | None, *, now: datetime | None = None) -> ClockResult:
    """Open scheduled buys, remind before deadlines, close buys past their deadline.

    Each buy is handled in its own transaction, so one failure does not hold up the others;
    running the clock twice (or on two workers) is harmless, as every step re-checks under
    the row lock. Notifications are handed to the queue after each commit.
    """
    now = now or datetime.now(UTC)
    async with session_maker() as session:
        due_open = (
            await session.exec(
                select(GroupBuy.id).where(
                    col(GroupBuy.status) == GroupBuyStatus.SCHEDULED.value, col(GroupBuy.opens_at) <= now
                )
            )
        ).all()
        open_buys = (
            await session.exec(
                select(GroupBuy.id, GroupBuy.closes_at).where(
                    col(GroupBuy.status) == GroupBuyStatus.OPEN.value, col(GroupBuy.closes_at) <= now + CLOSING_SOON
                )
            )
        ).all()
    counts = {"opened": 0, "closed": 0, "reminded": 0, "failed": 0}
    steps: list[tuple[str, Callable[..., Awaitable[bool]], int]] = [
        ("opened", open_if_due, gid) for gid in due_open if gid is not None
    ]
    for open_id, closes_at in open_buys:
        if open_id is not None:
            steps.append(
                ("closed", close_if_due, open_id) if closes_at <= now else ("reminded", remind_if_due, open_id)
            )
    for name, step, group_buy_id in steps:
        try:
            async with session_maker() as session:
                done = await step(session, group_buy_id, now=now)
                await session.commit()
                keys = outbox.take_pending_keys(session)
        except Exception:
            log.exception("group buy clock step failed", extra={"step": name, "group_buy_id": group_buy_id})
            counts["failed"] += 1
            continue
        counts[name] += int(done)
        if keys and queue is not None:
            try:
                await outbox.relay(session_maker, queue, keys)
            except Exception:  # the outbox keeps them; the sweeper retries
                log.warning("job relay failed; the sweeper will retry", exc_info=True)
    return ClockResult(**counts)
