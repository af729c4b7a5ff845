"""Many members ordering into one group buy at once, on real separate connections and real COMMITs.

Every member runs its own chain (place, then change again and again) while all chains run
at once; duplicate placements race each other; late changes race the close. Afterwards the
live totals, the stored increments, the frozen close figures and the allocation all agree.
Data is committed for real, into a database of the test's own (`committing_engine`).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.buying import closing, orders
from domain.buying import service as buying
from domain.buying.rules import GroupBuyStatus, LineRequest
from domain.buying.tables import BuyOrder, GroupBuyItem, OrderIncrement, OrderLine
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_session_maker
from domain.errors import ConflictError
from domain.membership import service as membership
from tests.support.totals import resummed_totals, stored_totals

if TYPE_CHECKING:
    from domain.db import SessionMaker

MEMBERS = 40
CHANGES_PER_MEMBER = 4
DUPLICATES_PER_MEMBER = 1
LATE_CHANGES = 20
RACED_ORDERS = 10
CONCURRENCY = 8  # the engine pools 5 + 5 connections


async def setup(maker: SessionMaker) -> tuple[int, list[int], list[int]]:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with maker() as s:
        supplier = await catalog.create_supplier(s, name=f"Concurrent Mill {tag}", email=f"{tag}@mill.test")
        products = []
        for n, size in enumerate((6, 4)):
            new = catalog.NewProduct(
                supplier.id or 0, f"C-{tag}-{n}", "Grain", "sack", size, "purchases", Decimal("0.05"),
                (Tier(1, 700), Tier(40, 650), Tier(120, 600)),
            )  # fmt: skip
            products.append((await catalog.create_product(s, new, actor=0)).product.id or 0)
        group_buy = await buying.create_group_buy(
            s,
            buying.NewGroupBuy(supplier.id or 0, f"Rush {tag}", now + timedelta(days=30), tuple(products)),
            now=now,
            actor=0,
        )
        member_ids = []
        for i in range(MEMBERS):
            member = await membership.apply(
                s, name=f"Rush {tag} {i}", email=f"{tag}.{i}@shop.test", contact_name=None, par_cents=10_000
            )
            member.status, member.joined_at = "full", now
            s.add(member)
            member_ids.append(member.id or 0)
        await s.commit()
    return group_buy.id or 0, products, member_ids


class Rush:
    """The members' side of the rush: placements and changes, each in its own session and COMMIT."""

    def __init__(self, maker: SessionMaker, group_buy_id: int, products: list[int]) -> None:
        self.maker, self.group_buy_id, self.products = maker, group_buy_id, products
        self.rng = random.Random(20260401)  # noqa: S311 - a deterministic mix of orders
        self.limit = asyncio.Semaphore(CONCURRENCY)
        self.calls: Counter[str] = Counter()
        self.orders: dict[int, int] = {}

    def plan(self) -> list[LineRequest]:
        rng = self.rng
        lines = [LineRequest(p, rng.randint(0, 9), rng.randint(0, 4)) for p in self.products if rng.random() < 0.8]
        return lines if sum(ln.quantity + ln.flex for ln in lines) else [LineRequest(self.products[0], 1, 0)]

    async def place(self, member_id: int, lines: list[LineRequest]) -> int | None:
        async with self.limit, self.maker() as s:
            try:
                view = await orders.place_order(
                    s, self.group_buy_id, member_id=member_id, lines=lines, now=datetime.now(UTC), actor=0
                )
            except ConflictError:
                self.calls["duplicate refused"] += 1
                return None
            await s.commit()
            self.calls["placed"] += 1
            return view.order.id

    async def change(self, member_id: int, lines: list[LineRequest]) -> bool:
        async with self.limit, self.maker() as s:
            try:
                await orders.change_order(s, self.orders[member_id], lines=lines, now=datetime.now(UTC))
            except ConflictError:
                self.calls["change refused"] += 1
                return False
            await s.commit()
            self.calls["changed"] += 1
            return True

    async def chain(self, member_id: int, steps: list[list[LineRequest]]) -> None:
        """Place (racing duplicates of itself: exactly one wins), then change again and again."""
        placed = await asyncio.gather(*(self.place(member_id, steps[0]) for _ in range(1 + DUPLICATES_PER_MEMBER)))
        winners = [p for p in placed if p is not None]
        assert len(winners) == 1
        self.orders[member_id] = winners[0]
        for lines in steps[1:]:
            assert await self.change(member_id, lines)

    async def close(self) -> None:
        async with self.limit, self.maker() as s:
            await closing.close_group_buy(s, self.group_buy_id, now=datetime.now(UTC))
            await s.commit()


async def test_hundreds_of_concurrent_orders_and_changes_agree_with_the_totals(committing_engine):
    maker = make_session_maker(committing_engine)
    group_buy_id, products, member_ids = await setup(maker)
    rush = Rush(maker, group_buy_id, products)
    chains = {m: [rush.plan() for _ in range(1 + CHANGES_PER_MEMBER)] for m in member_ids}
    final = {m: chain[-1] for m, chain in chains.items()}
    await asyncio.gather(*(rush.chain(m, steps) for m, steps in chains.items()))
    assert rush.calls == {
        "placed": MEMBERS,
        "duplicate refused": MEMBERS * DUPLICATES_PER_MEMBER,
        "changed": MEMBERS * CHANGES_PER_MEMBER,
    }

    # Racing changes to the same order: the last to commit wins whole, none is half applied.
    candidates = {m: [rush.plan() for _ in range(3)] for m in rush.rng.sample(member_ids, RACED_ORDERS)}
    await asyncio.gather(*(rush.change(m, c) for m, plans in candidates.items() for c in plans))
    async with maker() as s:
        for m, plans in candidates.items():
            stored = await lines_of(s, rush.orders[m])
            final[m] = next(c for c in plans if stored == as_dict(c))
        await check_lines_match(s, group_buy_id, final, rush.orders)
        # The running totals, updated by every concurrent writer, equal the lines re-summed.
        assert await stored_totals(s, group_buy_id) == await resummed_totals(s, group_buy_id)
        view = await buying.get_group_buy(s, group_buy_id)
        for item in view.items:
            wanted = [ln for lines in final.values() for ln in lines if ln.product_id == item.product_id]
            assert (item.quantity, item.flex_quantity) == (
                sum(ln.quantity for ln in wanted),
                sum(ln.flex for ln in wanted),
            )

    # Late changes race the close: each lands entirely before it or is refused (409).
    late = [rush.change(m, rush.plan()) for m in rush.rng.sample(member_ids, LATE_CHANGES)]
    await asyncio.gather(*late, rush.close())
    changes = MEMBERS * CHANGES_PER_MEMBER + 3 * RACED_ORDERS + LATE_CHANGES
    assert rush.calls["changed"] + rush.calls["change refused"] == changes
    assert sum(rush.calls.values()) >= 200  # placements, duplicates and changes, all concurrent
    async with maker() as s:
        await check_close_agrees(s, group_buy_id)


def as_dict(lines: list[LineRequest]) -> dict[int, tuple[int, int]]:
    return {ln.product_id: (ln.quantity, ln.flex) for ln in lines if ln.quantity or ln.flex}


async def lines_of(s, order_id: int) -> dict[int, tuple[int, int]]:
    rows = (await s.exec(select(OrderLine).where(col(OrderLine.order_id) == order_id))).all()
    return {ln.product_id: (ln.quantity, ln.flex_quantity) for ln in rows}


async def check_lines_match(s, group_buy_id: int, final: dict[int, list[LineRequest]], orders: dict[int, int]) -> None:
    """Each order holds exactly its member's last lines, and its increments add up to them."""
    stored = (await s.exec(select(OrderLine).where(col(OrderLine.group_buy_id) == group_buy_id))).all()
    by_order: dict[int, dict[int, tuple[int, int]]] = {}
    for line in stored:
        by_order.setdefault(line.order_id, {})[line.product_id] = (line.quantity, line.flex_quantity)
    for member_id, lines in final.items():
        assert by_order.get(orders[member_id], {}) == as_dict(lines)
    sums = (
        await s.execute(
            sa.select(
                col(OrderLine.id),
                col(OrderLine.quantity),
                col(OrderLine.flex_quantity),
                sa.func.sum(col(OrderIncrement.quantity)),
                sa.func.sum(col(OrderIncrement.flex_quantity)),
            )
            .join(OrderIncrement, col(OrderIncrement.order_line_id) == col(OrderLine.id))
            .where(col(OrderLine.group_buy_id) == group_buy_id)
            .group_by(col(OrderLine.id))
        )
    ).all()
    assert len(sums) == len(stored)
    for _, quantity, flex, inc_quantity, inc_flex in sums:
        assert (quantity, flex) == (inc_quantity, inc_flex)


async def check_close_agrees(s, group_buy_id: int) -> None:
    """The frozen figures equal the stored lines, and the allocation shares exactly what was bought."""
    view = await buying.get_group_buy(s, group_buy_id)
    assert view.group_buy.status == GroupBuyStatus.ORDERED
    items = (await s.exec(select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy_id))).all()
    # A line the close left alone (allocated_quantity NULL) is allocated its firm quantity.
    allocated_units = sa.func.coalesce(col(OrderLine.allocated_quantity), col(OrderLine.quantity))
    for item in items:
        row = (
            await s.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(col(OrderLine.quantity)), 0),
                    sa.func.coalesce(sa.func.sum(col(OrderLine.flex_quantity)), 0),
                    sa.func.coalesce(sa.func.sum(allocated_units), 0),
                    sa.func.count().filter(allocated_units > col(OrderLine.quantity) + col(OrderLine.flex_quantity)),
                ).where(col(OrderLine.group_buy_id) == group_buy_id, col(OrderLine.product_id) == item.product_id)
            )
        ).one()
        quantity, flex, allocated, over = (int(v) for v in row)
        assert (item.quantity, item.flex_quantity) == (quantity, flex)
        assert allocated == item.bought_quantity == (item.cases or 0) * item.case_size
        assert over == 0
    statuses = (
        (await s.execute(sa.select(col(BuyOrder.status)).where(col(BuyOrder.group_buy_id) == group_buy_id)))
        .scalars()
        .all()
    )
    assert set(statuses) == {"allocated"}
