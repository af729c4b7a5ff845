"""The close's and the delivery's pro rata, done set-based in SQL, give what the pure rules give.

For a random buy (orders, case sizes, tiers, markups, a withdrawn order, a short delivery),
every line's allocated and delivered units and its totals must equal ``plan_close`` /
``allocate_units`` and ``reallocate_delivery`` with ``line_total_cents`` on the same demands.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.buying import closing, orders, settlement
from domain.buying import service as buying
from domain.buying.rules import (
    AllocationPolicy,
    Demand,
    Increment,
    LineRequest,
    OrderStatus,
    ProductDemand,
    line_total_cents,
    plan_close,
    reallocate_delivery,
)
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.membership import service as membership

DB_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_tags = itertools.count()

products_st = st.lists(
    st.tuples(st.integers(1, 6), st.sampled_from(["0", "0.05", "0.085", "0.125"])), min_size=1, max_size=3
)
# Per member and product: firm quantity and flex (each member orders at least one unit in all).
orders_st = st.lists(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 4)), min_size=3, max_size=3), max_size=7)


def _tiers(price: int) -> tuple[Tier, Tier]:
    return (Tier(1, price), Tier(8, price - 36))


async def _buy(session, products, member_lines, *, withdraw_first: bool, price: int) -> tuple[int, list[int]]:
    tag = next(_tags)
    now = datetime.now(UTC)
    supplier = await catalog.create_supplier(session, name=f"Pro Rata Mill {tag}", email=f"pr{tag}@mill.test")
    ids = []
    for n, (case_size, markup) in enumerate(products):
        new = catalog.NewProduct(
            supplier.id or 0,
            f"PR-{tag}-{n}",
            "Oats",
            "sack",
            case_size,
            "purchases",
            Decimal(markup),
            _tiers(price),
        )
        ids.append((await catalog.create_product(session, new, actor=0)).product.id or 0)
    buy = await buying.create_group_buy(
        session,
        buying.NewGroupBuy(supplier.id or 0, f"Pro rata {tag}", now + timedelta(days=1), tuple(ids)),
        now=now,
        actor=0,
    )
    placed = []
    for i, wanted in enumerate(member_lines):
        lines = [LineRequest(p, q, f) for p, (q, f) in zip(ids, wanted, strict=False)]
        if not any(ln.quantity + ln.flex for ln in lines):
            lines[0] = LineRequest(ids[0], 1, 0)
        member = await membership.apply(
            session, name=f"Pro Rata {tag} {i}", email=f"pr{tag}-{i}@shop.test", contact_name=None, par_cents=10_000
        )
        member.status, member.joined_at = "full", now - timedelta(days=1)
        session.add(member)
        await session.flush()
        order = await orders.place_order(session, buy.id or 0, member_id=member.id or 0, lines=lines, now=now, actor=0)
        placed.append(order.order.id or 0)
    if withdraw_first and placed:
        await orders.cancel_order(session, placed[0], now=now)
    return buy.id or 0, ids


async def _lines(session, gid: int) -> list[tuple[int, int, int, int, int | None, int | None, int | None]]:
    """(product, order, quantity, flex, allocated, delivered, total) of live orders, in first-order order."""
    rows = await session.execute(
        sa.text(
            "SELECT l.product_id, l.order_id, l.quantity, l.flex_quantity, l.allocated_quantity,"
            " l.delivered_quantity, l.total_cents FROM order_line l JOIN buy_order o ON o.id = l.order_id"
            " WHERE l.group_buy_id = :g AND o.status <> 'cancelled' ORDER BY l.product_id, o.placed_seq, o.id"
        ),
        {"g": gid},
    )
    return [tuple(r) for r in rows]


async def _notified_totals(session, gid: int) -> dict[int, int]:
    """Each order's total as the close told its member (order.allocated), which the close's statement sums."""
    rows = await session.execute(
        sa.text("SELECT payload FROM outbox_job WHERE business_key LIKE 'notify:group_buy:' || :g || ':allocated:%'"),
        {"g": str(gid)},
    )
    return {int(p["data"]["order_id"]): p["data"]["total_cents"] for (p,) in rows}


# A tie of remainders (12 mod 8 = 36 mod 8): the larger weight gets the unit, [1, 5] not [2, 4].
@example(products=[(3, "0")], member_lines=[[(2, 0)], [(6, 0)]], withdraw_first=False, cut=100, price=337)
# The close only sorts the lines of the weight where the units run out. Cutting one unit of
# four equal lines: the last order gives it up, [1, 1, 1, 0].
@example(products=[(3, "0")], member_lines=[[(1, 0)]] * 4, withdraw_first=False, cut=100, price=337)
# Flex completing a case: the one extra unit goes to the first order, [2, 1, 1].
@example(products=[(4, "0.085")], member_lines=[[(1, 1)]] * 3, withdraw_first=False, cut=100, price=337)
# Cutting 4 of 10 units: a line gives up whole units before the remainders are ranked, [5, 1].
@example(products=[(6, "0")], member_lines=[[(9, 0)], [(1, 0)]], withdraw_first=False, cut=100, price=337)
# The delivery ranks weights too. Three of four equal lines delivered: the first three
# orders get them, [1, 1, 1, 0]; a tie of remainders at delivery goes to the larger weight,
# [1, 5] delivered 3 is [0, 3]; whole units first, [5, 1] delivered 5 is [4, 1].
@example(products=[(4, "0")], member_lines=[[(1, 0)]] * 4, withdraw_first=False, cut=75, price=337)
@example(products=[(3, "0")], member_lines=[[(2, 0)], [(6, 0)]], withdraw_first=False, cut=50, price=337)
@example(products=[(6, "0")], member_lines=[[(9, 0)], [(1, 0)]], withdraw_first=False, cut=84, price=337)
# A unit price so high that a line's cost in millionths of a cent would not fit 64 bits: the
# close prices that product in numeric (unit_cost_millionths gives None), to the same cents.
@example(
    products=[(4, "0.085"), (3, "0")],
    member_lines=[[(3, 1), (2, 0)], [(2, 2), (1, 1)]],
    withdraw_first=False,
    cut=100,
    price=10**14,
)
@DB_SETTINGS
@given(
    products=products_st,
    member_lines=orders_st,
    withdraw_first=st.booleans(),
    cut=st.integers(0, 100),
    price=st.sampled_from([337, 10**14]),
)
async def test_set_based_pro_rata_equals_the_pure_rules(session, products, member_lines, withdraw_first, cut, price):
    savepoint = await session.begin_nested()
    try:
        gid, ids = await _buy(session, products, member_lines, withdraw_first=withdraw_first, price=price)
        before = await _lines(session, gid)
        items = {i.product_id: i for i in (await buying.get_group_buy(session, gid)).items}
        expected = plan_close(
            [
                ProductDemand(
                    p,
                    items[p].case_size,
                    _tiers(price),
                    tuple(Demand.from_increments(o, [Increment(1, q, f)]) for pp, o, q, f, *_ in before if pp == p),
                )
                for p in ids
            ],
            AllocationPolicy.PRO_RATA,
        )
        view = await closing.close_group_buy(session, gid, now=datetime.now(UTC))
        if expected.nothing_to_order:
            assert view.group_buy.status == "cancelled"
            return
        assert view.group_buy.status == "ordered"
        markups = {p: Decimal(m) for p, (_, m) in zip(ids, products, strict=True)}
        outcomes = {o.product_id: o for o in expected.products}
        # What members see: the close stores units only where they are not the firm quantity.
        seen = await orders.order_page(session, after_id=0, limit=100, group_buy_id=gid, status=OrderStatus.ALLOCATED)
        closed = [(ln.product_id, v.order.id or 0, ln) for v in seen for ln in v.lines]
        assert len(closed) == len(await _lines(session, gid))
        for product_id, order_id, line in closed:
            outcome = outcomes[product_id]
            assert line.allocated_quantity == outcome.allocations[order_id], (product_id, order_id)
            assert line.unit_price_cents == outcome.unit_price_cents
            assert line.total_cents == line_total_cents(
                outcome.allocations[order_id], outcome.unit_price_cents, markups[product_id]
            )
        told: dict[int, int] = {}
        for _, order_id, line in closed:
            told[order_id] = told.get(order_id, 0) + (line.total_cents or 0)
        assert await _notified_totals(session, gid) == told
        raw = {(p, o): (q, a) for p, o, q, _, a, *_ in await _lines(session, gid)}
        written = {k for k, (_, a) in raw.items() if a is not None}
        assert written == {k for k, (q, _) in raw.items() if outcomes[k[0]].allocations[k[1]] != q}

        came = {p: o.bought * cut // 100 for p, o in outcomes.items()}
        await settlement.record_delivery(
            session, gid, [settlement.DeliveryLine(p, units) for p, units in came.items()], now=datetime.now(UTC)
        )
        stored: dict[int, tuple[int, int]] = {}
        for product_id, order_id, *_, allocated, delivered, total in await _lines(session, gid):
            outcome = outcomes[product_id]
            shares = reallocate_delivery(outcome.allocations, came[product_id], AllocationPolicy.PRO_RATA)
            assert (allocated, delivered) == (outcome.allocations[order_id], shares[order_id]), (product_id, order_id)
            assert total == line_total_cents(delivered or 0, outcome.unit_price_cents, markups[product_id])
            cents, short = stored.get(order_id, (0, 0))
            stored[order_id] = (cents + (total or 0), short + (allocated or 0) - (delivered or 0))
        # The delivery stored each order's sums of its lines (one pool here) for the settlement.
        totals = await session.execute(
            sa.text(
                "SELECT order_id, pool, delivered_cents, short_units FROM order_delivery_total WHERE group_buy_id = :g"
            ),
            {"g": gid},
        )
        assert {o: (pool, c, u) for o, pool, c, u in totals} == {o: ("purchases", *s) for o, s in stored.items()}
    finally:
        await savepoint.rollback()
