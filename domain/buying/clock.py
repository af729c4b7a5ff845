"""The group buy clock's steps: open on time, remind, close at the deadline (run by workers/buying.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlmodel import col, select

from domain.buying.closing import close_now
from domain.buying.rules import GroupBuyEvent, GroupBuyStatus, move_group_buy
from domain.buying.service import CLOSING_SOON, MEMBERS, locked_group_buy, notify_opened, pin_prices
from domain.buying.tables import GroupBuy
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class ClockStep:
    """One thing the clock does to one buy, in its own transaction; `run` returns whether it acted."""

    name: Literal["opened", "closed", "reminded"]
    run: Callable[..., Awaitable[bool]]
    group_buy_id: int


async def open_if_due(session: AsyncSession, group_buy_id: int, *, now: datetime) -> bool:
    """Open a scheduled buy whose time has come; False when it is not (or no longer) due."""
    group_buy = await locked_group_buy(session, group_buy_id)
    if group_buy.status != GroupBuyStatus.SCHEDULED or group_buy.opens_at > now:
        return False
    group_buy.status = move_group_buy(group_buy.status, GroupBuyEvent.OPEN, group_buy_id=group_buy_id).value
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


async def due_steps(session: AsyncSession, *, now: datetime) -> list[ClockStep]:
    """What the clock has to do now: open scheduled buys, close those past the deadline, remind the rest."""
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
    steps = [ClockStep("opened", open_if_due, gid) for gid in due_open if gid is not None]
    for open_id, closes_at in open_buys:
        if open_id is not None:
            step = (
                ClockStep("closed", close_if_due, open_id)
                if closes_at <= now
                else ClockStep("reminded", remind_if_due, open_id)
            )
            steps.append(step)
    return steps
