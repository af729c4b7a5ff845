"""The SQL order change (coop_order_change, migration 0026) keeps the queue exactly as rules.apply_change says."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import Increment, LineRequest, apply_change
from domain.buying.tables import GroupBuyTotal, OrderIncrement, OrderLine
from domain.errors import InvalidInputError
from domain.membership import service as membership
from tests.support.buying import make_product, make_supplier
from tests.support.users import make_member

DB_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PRODUCTS = 3
_names = itertools.count()

amounts = st.tuples(st.integers(0, 4), st.integers(0, 3))
orders_lines = st.lists(amounts, min_size=PRODUCTS, max_size=PRODUCTS).filter(lambda ls: sum(q + f for q, f in ls) > 0)


@pytest.fixture
async def buy(session) -> tuple[int, list[int]]:
    """One open buy for the test's examples (each places its own member's order in it)."""
    now = datetime.now(UTC)
    supplier = await make_supplier(session)
    products = [await make_product(session, supplier.id, tiers=[(1, 100)]) for _ in range(PRODUCTS)]
    new = buying.NewGroupBuy(supplier.id or 0, "Queue", now + timedelta(days=1), tuple(products))
    group_buy = await buying.create_group_buy(session, new, now=now, actor=0)
    return group_buy.id or 0, products


async def _stored(session, order_id: int, products: list[int]) -> dict[int, tuple[Increment, ...]]:
    rows = (
        await session.exec(
            select(OrderLine.product_id, OrderIncrement.at_seq, OrderIncrement.quantity, OrderIncrement.flex_quantity)
            .join(OrderIncrement, col(OrderIncrement.order_line_id) == col(OrderLine.id))
            .where(col(OrderLine.order_id) == order_id)
            .order_by(col(OrderLine.product_id), col(OrderIncrement.at_seq))
            .execution_options(populate_existing=True)
        )
    ).all()
    out: dict[int, list[Increment]] = {p: [] for p in products}
    for product_id, at_seq, quantity, flex in rows:
        out[product_id].append(Increment(at_seq, quantity, flex))
    return {p: tuple(incs) for p, incs in out.items()}


def _shape(increments: tuple[Increment, ...], known: set[int]) -> list[tuple[int | None, int, int]]:
    """Increments with the change's new seq (assigned by the database) written as None."""
    return [(i.at_seq if i.at_seq in known else None, i.quantity, i.flex) for i in increments]


@DB_SETTINGS
@given(first=orders_lines, changes=st.lists(orders_lines, min_size=1, max_size=4))
async def test_every_change_leaves_the_increments_apply_change_gives(session, buy, first, changes):
    buy_id, products = buy
    now = datetime.now(UTC)
    member = await make_member(session, f"Queue Shop {next(_names)}")
    await membership.admit(session, member.id or 0, probation_days=30, now=now, actor=0)
    placed = await orders.place_order(
        session,
        buy_id,
        member_id=member.id or 0,
        lines=[LineRequest(p, q, f) for p, (q, f) in zip(products, first, strict=True)],
        now=now,
        actor=0,
    )
    order_id = placed.order.id or 0
    for change in changes:
        before = await _stored(session, order_id, products)
        known = {i.at_seq for incs in before.values() for i in incs}
        view = await orders.change_order(
            session,
            order_id,
            lines=[LineRequest(p, q, f) for p, (q, f) in zip(products, change, strict=True)],
            now=now,
        )
        after = await _stored(session, order_id, products)
        for p, (q, f) in zip(products, change, strict=True):
            newest = max(known, default=0) + 10**9  # newer than every stored increment, as the change's seq is
            expected = apply_change(before[p], q, f, newest)
            assert _shape(after[p], known) == _shape(expected, known), (p, before[p], (q, f))
            assert all(i.at_seq > max(known) for i in after[p] if i.at_seq not in known)
        assert [(ln.product_id, ln.quantity, ln.flex_quantity) for ln in view.lines] == [
            (p, q, f) for p, (q, f) in zip(products, change, strict=True) if q + f
        ]
    # The running totals (summed over shards) are the lines' sums.
    lines = (await session.exec(select(OrderLine).where(col(OrderLine.group_buy_id) == buy_id))).all()
    totals = (await session.exec(select(GroupBuyTotal).where(col(GroupBuyTotal.group_buy_id) == buy_id))).all()
    for p in products:
        assert sum(t.quantity for t in totals if t.product_id == p) == sum(
            ln.quantity for ln in lines if ln.product_id == p
        )
        assert sum(t.flex_quantity for t in totals if t.product_id == p) == sum(
            ln.flex_quantity for ln in lines if ln.product_id == p
        )


async def test_a_product_id_past_int4_is_refused_as_not_offered_naming_the_field(session, buy):
    # The API takes ids of up to 18 digits; the functions' arrays are bigint, the amounts int.
    buy_id, products = buy
    member = await make_member(session, f"Queue Shop {next(_names)}")
    await membership.admit(session, member.id or 0, probation_days=30, now=datetime.now(UTC), actor=0)
    for lines, field in (
        ([LineRequest(products[0], 1), LineRequest(5_000_000_000, 1)], "lines[1].product_id"),
        ([LineRequest(products[0], 1), LineRequest(products[1], 2**31)], "lines[1].quantity"),
    ):
        with pytest.raises(InvalidInputError) as refused:
            await orders.place_order(
                session, buy_id, member_id=member.id or 0, lines=lines, now=datetime.now(UTC), actor=0
            )
        assert [e.field for e in refused.value.errors] == [field]
