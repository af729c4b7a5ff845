"""The group buy clock under a real arq worker: opens on time, closes past the deadline, twice is harmless."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlmodel import col

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.buying.tables import BuyOrder, GroupBuy
from domain.jobs.queue import ArqJobQueue
from tests.support.buying import make_product, make_supplier
from tests.support.users import make_member
from workers.buying import group_buy_clock, run_clock
from workers.main import worker_settings


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, event: str, audience: str, data: Any) -> None:
        self.sent.append((event, audience, dict(data)))


async def run_worker(settings, session_maker, sender: RecordingSender) -> None:
    """A burst worker: its startup crons (the clock, the sweeper) run once, then the jobs they queue."""
    worker = Worker(
        **worker_settings(settings, session_maker, sender),
        redis_pool=await create_pool(RedisSettings.from_dsn(settings.redis_url)),
        burst=True,
        max_jobs=1,  # every session shares the test's one connection
        handle_signals=False,
        poll_delay=0.01,
    )
    await worker.main()
    await worker.close()


async def past_deadline_buy(session) -> tuple[int, int]:
    """An open buy with one full case ordered, whose deadline passed a minute ago."""
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, case_size=2, tiers=[(1, 250)])
    now = datetime.now(UTC)
    new = buying.NewGroupBuy(supplier.id or 0, "Clockwork", now + timedelta(hours=1), (product,))
    group_buy = await buying.create_group_buy(session, new, now=now, actor=0)
    member = await make_member(session)
    member.status = "full"
    member.joined_at = now
    session.add(member)
    await session.flush()
    await orders.place_order(
        session, group_buy.id or 0, member_id=member.id or 0, lines=[LineRequest(product, 2)], now=now, actor=0
    )
    await session.execute(
        sa.update(GroupBuy)
        .where(col(GroupBuy.id) == group_buy.id)
        .values(opens_at=now - timedelta(hours=2), closes_at=now - timedelta(minutes=1))
    )
    await session.commit()
    return group_buy.id or 0, member.id or 0


async def test_the_clock_closes_a_buy_past_its_deadline_once(settings, session_maker, session, queue):
    group_buy_id, member_id = await past_deadline_buy(session)
    sender = RecordingSender()
    await run_worker(settings, session_maker, sender)
    group_buy = await session.get(GroupBuy, group_buy_id)
    await session.refresh(group_buy)
    assert group_buy.status == "ordered"
    assert group_buy.closed_at is not None
    closed_at = group_buy.closed_at
    ours = [e for e in sender.sent if e[2].get("group_buy_id") == str(group_buy_id)]
    allocated = [e for e in ours if e[0] == "order.allocated"]
    assert allocated == [
        (
            "order.allocated",
            f"member:{member_id}",
            {"group_buy_id": str(group_buy_id), "order_id": allocated[0][2]["order_id"], "total_cents": 500},
        )
    ]
    # Run twice: the cron again, and a whole worker again. Nothing changes, nobody is told twice.
    ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue)}
    rerun = await group_buy_clock(ctx)
    assert (rerun["opened"], rerun["closed"], rerun["failed"]) == (0, 0, 0)
    await run_worker(settings, session_maker, sender)
    await session.refresh(group_buy)
    assert (group_buy.status, group_buy.closed_at) == ("ordered", closed_at)
    assert len([e for e in sender.sent if e[0] == "order.allocated" and e[2]["group_buy_id"] == str(group_buy_id)]) == 1
    statuses = await session.execute(sa.select(col(BuyOrder.status)).where(col(BuyOrder.group_buy_id) == group_buy_id))
    assert statuses.scalars().all() == ["allocated"]


async def test_the_clock_opens_scheduled_buys_and_reminds_before_the_deadline(session_maker, session, queue):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id)
    now = datetime.now(UTC)
    soon = buying.NewGroupBuy(
        supplier.id or 0, "Soon", now + timedelta(hours=3), (product,), opens_at=now + timedelta(hours=1)
    )
    group_buy = await buying.create_group_buy(session, soon, now=now, actor=0)
    await session.commit()
    assert group_buy.status == "scheduled"
    ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue)}
    assert (await run_clock(session_maker, None, now=now))["opened"] == 0
    later = now + timedelta(hours=1, minutes=1)
    result = await run_clock(session_maker, ArqJobQueue(queue), now=later)
    assert (result["opened"], result["failed"]) == (1, 0)
    await session.refresh(group_buy)
    assert group_buy.status == "open"
    reminded = await run_clock(session_maker, None, now=later)
    assert reminded["reminded"] >= 1  # closes within a day
    again = await run_clock(session_maker, None, now=later)
    assert (again["opened"], again["closed"]) == (0, 0)
    assert ctx  # the cron entry point is exercised in the test above
