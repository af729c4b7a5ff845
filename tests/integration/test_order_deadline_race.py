"""Order writes hammer a buy while its deadline passes and the clock closes it (issue 8, item 4).

Real connections and real COMMITs: writers change orders without pause from before the
deadline until after the close. Nothing may be accepted at or after `closes_at`, and the
close must not be starved by the stream of writers: it takes effect within about a second.
The run is bounded in time (a few seconds) and in writers.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from domain.buying import clock, closing, orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.buying.tables import GroupBuy, OrderIncrement, OrderLine
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import SessionMaker, make_engine, make_session_maker
from domain.errors import ConflictError
from domain.membership import service as membership

WRITERS = 12
MEMBERS = 24
OPEN_FOR = timedelta(seconds=1.5)  # from setup to the deadline
HAMMER_AFTER_CLOSE = 0.3  # seconds the writers keep going once the close is done
CLOSE_WITHIN = 1.5  # seconds from the deadline to the close taking effect (about a second, on a busy box)


async def setup(maker: SessionMaker, open_for: timedelta) -> tuple[int, int, list[int], datetime]:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with maker() as s:
        supplier = await catalog.create_supplier(s, name=f"Deadline Mill {tag}", email=f"{tag}@mill.test")
        new = catalog.NewProduct(
            supplier.id or 0, f"D-{tag}", "Grain", "sack", 1, "purchases", Decimal(0), (Tier(1, 100),)
        )
        product = (await catalog.create_product(s, new, actor=0)).product.id or 0
        members = []
        for i in range(MEMBERS):
            member = await membership.apply(
                s, name=f"Deadline {tag} {i}", email=f"{tag}.{i}@shop.test", contact_name=None, par_cents=10_000
            )
            member.status, member.joined_at = "full", now
            s.add(member)
            members.append(member.id or 0)
        await s.commit()
        # The deadline is set last, so a slow setup on a busy machine does not eat the writers' time.
        now = datetime.now(UTC)
        group_buy = await buying.create_group_buy(
            s, buying.NewGroupBuy(supplier.id or 0, f"Deadline {tag}", now + open_for, (product,)), now=now, actor=0
        )
        await s.commit()
        return group_buy.id or 0, product, members, group_buy.closes_at


@dataclass
class Hammer:
    maker: SessionMaker
    group_buy_id: int
    product: int
    closes_at: datetime
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    orders: dict[int, int] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    late_accepted: list[datetime] = field(default_factory=list)

    async def write(self, member_id: int, units: int) -> None:
        started = datetime.now(UTC)
        placed = None
        async with self.maker() as s:
            try:
                if member_id in self.orders:
                    lines = [LineRequest(self.product, units)]
                    await orders.change_order(s, self.orders[member_id], lines=lines, now=started)
                else:
                    view = await orders.place_order(
                        s,
                        self.group_buy_id,
                        member_id=member_id,
                        lines=[LineRequest(self.product, units)],
                        now=started,
                        actor=0,
                    )
                    placed = view.order.id
                await s.commit()
                # Known to the other writers only once committed: before, their change would find no order.
                if placed is not None:
                    self.orders[member_id] = placed
            except ConflictError as refused:
                self.outcomes[refused.code or "conflict"] += 1
                return
        self.outcomes["accepted"] += 1
        if started >= self.closes_at:
            self.late_accepted.append(started)

    async def writer(self, members: list[int], seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a deterministic mix
        while not self.stop.is_set():
            await self.write(rng.choice(members), rng.randint(1, 9))


async def _run_close(maker: SessionMaker, group_buy_id: int, *, by_clock: bool) -> bool:
    async with maker() as s:
        if by_clock:
            done = await clock.close_if_due(s, group_buy_id, now=datetime.now(UTC))
        else:
            done = (await closing.close_group_buy(s, group_buy_id, now=datetime.now(UTC))).group_buy.status != "open"
        await s.commit()
        return done


@pytest.mark.parametrize("by_clock", [True, False], ids=["clock-at-deadline", "staff-before-deadline"])
async def test_nothing_is_accepted_after_the_deadline_and_the_close_is_not_starved(own_database, by_clock):
    engine = make_engine(own_database, pool_size=WRITERS + 2)
    maker = make_session_maker(engine)
    group_buy_id, product, members, closes_at = await setup(maker, OPEN_FOR if by_clock else timedelta(hours=1))
    hammer = Hammer(maker, group_buy_id, product, closes_at=closes_at)
    try:
        writers = [asyncio.create_task(hammer.writer(members, seed)) for seed in range(WRITERS)]
        # The clock closes at the deadline; staff close an hour early, after as long a stream of writes.
        wait = (closes_at - datetime.now(UTC)) if by_clock else OPEN_FOR
        await asyncio.sleep(max(wait.total_seconds(), 0))
        began = time.monotonic()
        # Bounded: a starved close fails the test instead of hanging it.
        closed = await asyncio.wait_for(_run_close(maker, group_buy_id, by_clock=by_clock), timeout=4 * CLOSE_WITHIN)
        took = time.monotonic() - began
        await asyncio.sleep(HAMMER_AFTER_CLOSE)
        hammer.stop.set()
        await asyncio.wait_for(asyncio.gather(*writers), timeout=10)

        assert closed
        assert took < CLOSE_WITHIN, f"the close waited {took:.2f} s behind the order writers"
        assert hammer.late_accepted == []
        assert hammer.outcomes["accepted"] >= WRITERS  # the writers really hammered before the deadline
        refused = hammer.outcomes["order_deadline_passed"] + hammer.outcomes["group_buy_not_open"]
        assert refused >= WRITERS  # and kept hammering after it
        async with maker() as s:
            group_buy = (await s.exec(select(GroupBuy).where(col(GroupBuy.id) == group_buy_id))).one()
            assert group_buy.status == "ordered"
            assert group_buy.closed_at is not None
            assert closes_at <= group_buy.closed_at or not by_clock
            last_increment = (
                await s.execute(
                    sa.select(sa.func.max(col(OrderIncrement.created_at)))
                    .join(OrderLine, col(OrderLine.id) == col(OrderIncrement.order_line_id))
                    .where(col(OrderLine.group_buy_id) == group_buy_id)
                )
            ).scalar_one()
            assert last_increment < closes_at
    finally:
        hammer.stop.set()
        await engine.dispose()
