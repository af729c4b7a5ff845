"""Closing a group buy: cases, allocation, the tier earned, the minimum outcome, the purchase order."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from domain.buying.orders import withdraw_with_notice
from domain.buying.rules import (
    MILLIONTHS,
    AllocationPolicy,
    CloseAction,
    ClosePlan,
    Demand,
    GroupBuyEvent,
    GroupBuyStatus,
    Increment,
    MinimumOutcome,
    OrderStatus,
    PaymentMode,
    ProductDemand,
    ProductTotals,
    charge_limit_errors,
    check_order_transition,
    line_total_cents,
    max_order_total_cents,
    move_group_buy,
    next_status,
    opening_unit_price_cents,
    plan_close,
    plan_close_totals,
    unit_cost_millionths,
)
from domain.buying.service import (
    CLOSED,
    MEMBERS,
    STAFF,
    GroupBuyView,
    get_group_buy,
    item_prices,
    locked_group_buy,
    member_audience,
    pin_prices,
    supplier_audience,
)
from domain.buying.tables import BuyOrder, GroupBuy, GroupBuyItem, GroupBuyTotal, OrderIncrement, OrderLine
from domain.db import utc_now
from domain.errors import ConflictError
from domain.notifications import service as notifications
from domain.payments import card_holds

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def _plan(session: AsyncSession, group_buy: GroupBuy) -> ClosePlan:
    """Run the pure close rules on the stored lines (increments in time order, orders by first order).

    Prices are the versions pinned when the buy opened; a buy opened before pinning existed
    is pinned to the current prices first. Pro rata needs only each product's sums here
    (its allocation is shared set-based, see ``_ALLOCATE_PRO_RATA``); first come walks
    every order's increments.
    """
    assert group_buy.id is not None  # noqa: S101 - loaded rows
    await pin_prices(session, group_buy.id)
    items = list(
        (
            await session.exec(
                select(GroupBuyItem)
                .where(col(GroupBuyItem.group_buy_id) == group_buy.id)
                .order_by(col(GroupBuyItem.position))
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    prices = await item_prices(session, items)
    tiers = {i.product_id: prices[i.group_buy_id, i.product_id].tiers for i in items}
    policy = AllocationPolicy(group_buy.allocation_policy)
    if policy is AllocationPolicy.PRO_RATA:
        sums = await _product_sums(session, group_buy.id)
        return plan_close_totals(
            [
                ProductTotals(i.product_id, i.case_size, tiers[i.product_id], *sums.get(i.product_id, (0, 0)))
                for i in items
            ],
            group_buy.min_value_cents,
            MinimumOutcome(group_buy.on_minimum_missed),
            already_extended=group_buy.extended,
        )
    demands = await demands_of(session, group_buy.id)
    products = [
        ProductDemand(item.product_id, item.case_size, tiers[item.product_id], tuple(demands.get(item.product_id, ())))
        for item in items
    ]
    return plan_close(
        products,
        policy,
        group_buy.min_value_cents,
        MinimumOutcome(group_buy.on_minimum_missed),
        already_extended=group_buy.extended,
    )


async def _product_sums(session: AsyncSession, group_buy_id: int) -> dict[int, tuple[int, int]]:
    """Each product's firm quantity Q and flex F over the buy's live orders: its running totals.

    Every order write keeps them equal to the live lines (orders.add_to_totals; a withdrawn
    order's lines go and are taken off), so a few rows a product are read, not every line.
    """
    rows = (
        await session.execute(
            sa.select(
                col(GroupBuyTotal.product_id),
                sa.func.sum(col(GroupBuyTotal.quantity)),
                sa.func.sum(col(GroupBuyTotal.flex_quantity)),
            )
            .where(col(GroupBuyTotal.group_buy_id) == group_buy_id)
            .group_by(col(GroupBuyTotal.product_id))
        )
    ).all()
    return {int(product_id): (int(quantity), int(flex)) for product_id, quantity, flex in rows}


async def demands_of(session: AsyncSession, group_buy_id: int) -> dict[int, list[Demand]]:
    """Each product's demands of the buy's live orders, keyed by order id, in first-order-time order."""
    rows = (
        await session.execute(
            sa.select(
                col(OrderLine.product_id),
                col(OrderLine.order_id),
                col(OrderIncrement.at_seq),
                col(OrderIncrement.quantity),
                col(OrderIncrement.flex_quantity),
            )
            .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
            .join(OrderIncrement, col(OrderIncrement.order_line_id) == col(OrderLine.id))
            .where(col(OrderLine.group_buy_id) == group_buy_id, col(BuyOrder.status) != OrderStatus.CANCELLED.value)
            .order_by(col(OrderLine.product_id), col(BuyOrder.placed_seq), col(BuyOrder.id), col(OrderIncrement.at_seq))
        )
    ).all()
    grouped: dict[int, dict[int, list[Increment]]] = defaultdict(dict)
    for product_id, order_id, at_seq, quantity, flex in rows:
        grouped[product_id].setdefault(order_id, []).append(Increment(at_seq, quantity, flex))
    return {
        product_id: [Demand.from_increments(order_id, incs) for order_id, incs in by_order.items()]
        for product_id, by_order in grouped.items()
    }


async def _freeze(session: AsyncSession, group_buy: GroupBuy, plan: ClosePlan) -> None:
    """Write the close figures on the items (their prices were pinned when the buy opened).

    Set on the buy's item rows (the session's own, as ``_plan`` loaded them; read again in one
    statement): the flush sends one UPDATE for all, executemany, not a statement and a round trip
    per product (50 in the bench).
    """
    items = {
        i.product_id: i
        for i in (await session.exec(select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy.id)))
    }
    for outcome in plan.products:
        item = items[outcome.product_id]
        item.quantity, item.flex_quantity = outcome.quantity, outcome.flex
        item.cases, item.bought_quantity = outcome.cases, outcome.bought
        item.unit_price_cents = outcome.unit_price_cents
    session.add_all(items.values())
    group_buy.supplier_value_cents = plan.supplier_value_cents
    group_buy.minimum_met = plan.decision.minimum_met


async def close_group_buy(session: AsyncSession, group_buy_id: int, *, now: datetime) -> GroupBuyView:
    """Close an open buy now (staff, or the clock at the deadline); safe to run twice.

    Applies the minimum outcome: order (allocate at the bulk tier and freeze prices), cancel,
    extend once, or hold for staff (status ``on_hold``). A buy already closed is returned as
    it is; a scheduled one is a 409.
    """
    group_buy = await locked_group_buy(session, group_buy_id)
    status = GroupBuyStatus(group_buy.status)
    if status is GroupBuyStatus.SCHEDULED:
        raise ConflictError(f"group buy {group_buy_id} has not opened yet; cancel it instead")
    if status is GroupBuyStatus.OPEN:
        await close_now(session, group_buy, now)
    return await get_group_buy(session, group_buy_id)


async def close_now(session: AsyncSession, group_buy: GroupBuy, now: datetime) -> None:
    """Close a locked, open buy: apply the close rules and the minimum outcome.

    ``closed_at`` is when the close took effect: the clock read under the lock, since the
    caller's ``now`` was read before it waited for the order writes in flight.
    """
    now = max(now, utc_now())
    if group_buy.payment_mode == PaymentMode.CARD:
        await _drop_declined(session, group_buy, now)
    plan = await _plan(session, group_buy)
    match plan.decision.action:
        case CloseAction.EXTEND:
            move_group_buy(group_buy.status, GroupBuyEvent.EXTEND, group_buy_id=group_buy.id)  # stays open
            group_buy.closes_at = max(group_buy.closes_at, now) + timedelta(hours=group_buy.extend_hours)
            group_buy.extended = True
            group_buy.status_reason = f"{plan.reason}; extended by {group_buy.extend_hours} hours"
            await notifications.record(
                session,
                event="group_buy.extended",
                audience=MEMBERS,
                data={"group_buy_id": str(group_buy.id), "closes_at": group_buy.closes_at.isoformat()},
                business_key=f"group_buy:{group_buy.id}:extended",
            )
        case CloseAction.HOLD:
            await _freeze(session, group_buy, plan)
            group_buy.status = move_group_buy(group_buy.status, GroupBuyEvent.HOLD, group_buy_id=group_buy.id).value
            group_buy.held = True
            group_buy.closed_at = now
            group_buy.status_reason = f"{plan.reason}; held for a staff decision"
            await notifications.record(
                session,
                event="group_buy.held",
                audience=STAFF,
                data={"group_buy_id": str(group_buy.id), "reason": group_buy.status_reason},
                business_key=f"group_buy:{group_buy.id}:held",
            )
        case CloseAction.CANCEL:
            await _freeze(session, group_buy, plan)
            group_buy.closed_at = now
            await _cancel(session, group_buy, now, plan.reason)
        case CloseAction.ORDER:
            await _freeze(session, group_buy, plan)
            group_buy.closed_at = now
            await _order(session, group_buy, plan, now)
    session.add(group_buy)
    await session.flush()


async def _drop_declined(session: AsyncSession, group_buy: GroupBuy, now: datetime) -> None:
    """Orders whose card said no are withdrawn before the close counts the group's volume."""
    for order_id in await card_holds.failed_orders(session, group_buy.id or 0):
        await withdraw_with_notice(session, order_id, now=now, reason="the card was declined", key="card_declined")


async def _cancel(session: AsyncSession, group_buy: GroupBuy, now: datetime, reason: str) -> None:
    group_buy.status = move_group_buy(group_buy.status, GroupBuyEvent.CANCEL, group_buy_id=group_buy.id).value
    group_buy.held = False
    group_buy.cancelled_at = now
    group_buy.status_reason = reason
    check_order_transition(OrderStatus.OPEN, OrderStatus.CANCELLED)  # set-based: every open order of the buy
    members = (
        await session.execute(
            sa.update(BuyOrder)
            .where(col(BuyOrder.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.OPEN.value)
            .values(status=OrderStatus.CANCELLED.value, updated_at=now)
            .returning(col(BuyOrder.id), col(BuyOrder.member_id))
        )
    ).all()
    for order_id, member_id in sorted(members):
        await card_holds.void_holds(session, order_id, now)
        await notifications.record(
            session,
            event="group_buy.cancelled",
            audience=member_audience(member_id),
            data={"group_buy_id": str(group_buy.id), "order_id": str(order_id), "reason": reason},
            business_key=f"group_buy:{group_buy.id}:cancelled:{order_id}",
        )


# The lines whose allocation is not their firm quantity, in one statement (the rows passed as
# arrays, not one UPDATE per line). A line left alone keeps ``allocated_quantity`` NULL, which
# after close means its firm quantity (see ``allocated_units``).
_ALLOCATE_LINES = sa.text("""
UPDATE order_line l SET allocated_quantity = u.units
  FROM unnest(:ids, :units) AS u(id, units)
 WHERE l.id = u.id
""").bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("units", type_=ARRAY(sa.Integer)),
)

# The largest remainder method (domain.money.allocate) ranked by weight, not by line, over a CTE
# ``weighed`` with a row per (product, weight): ``lines`` of that weight, the product's
# ``share``, each line's ``floor_units`` (share * weight / weights, rounded down) and
# ``remainder``, and ``direction`` (1, or -1 where the close cuts: the ties reversed). A line's
# remainder depends only on its weight, so the product's left-over units go to whole weights in
# order of remainder, then weight: a weight's lines all take a unit, or none, or (the one weight
# a product where the units run out) the first ``takes`` of them, the only lines a statement
# then sorts. Gives ``weight_share`` with ``takes``; the groups are few, so each join to them
# hashes the groups, whatever the planner guesses of their count.
WEIGHT_SHARES = """
ranked AS (
  SELECT weighed.*,
         share - CAST(sum(floor_units * lines) OVER (PARTITION BY product_id) AS bigint) AS left_over,
         coalesce(CAST(sum(lines) OVER (PARTITION BY product_id ORDER BY remainder DESC, direction * weight DESC
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS bigint), 0) AS ahead
    FROM weighed
),
weight_share AS MATERIALIZED (
  SELECT ranked.*, CASE WHEN remainder > 0 THEN greatest(least(lines, left_over - ahead), 0) ELSE 0 END AS takes
    FROM ranked
)"""


def _priced(units: str, cost: str, price: str, markup: str) -> str:
    """line_total_cents of ``units`` in SQL.

    In bigint from the unit's cost in millionths of a cent (unit_cost_millionths, rounded
    HALF_UP); in numeric where that cost is NULL (round() is HALF_UP on non-negative numerics).
    """
    return (
        f"coalesce(({units} * {cost} + {MILLIONTHS // 2}) / {MILLIONTHS}, "
        f"CAST(round({units} * {price} * (1 + {markup})) AS bigint))"
    )


# Pro rata at close (allocate_units) without sorting every line. Whole cases keep a product's
# bought units A within a case of its firm sum Q, so pro rata only moves a small share s from
# the firm quantities: A <= Q cuts s = Q - A units, shared LRM(s, quantity_i) with the ties
# reversed (the units a line keeps are LRM(A, quantity_i) = quantity_i - that share, since their
# remainders mirror each other); A > Q adds s = A - Q units, shared LRM(s, flex_i). Each line's
# share of s is ranked by weight (``WEIGHT_SHARES``): at the weight where the units run out, the
# first ``takes`` lines by first order take one (the last ones when cutting). Every line is
# priced at its firm quantity (line_total_cents) and held to what its member was shown
# (max_order_total_cents: the dearest tier with the pinned markup); the moved lines (at most
# s < case size a product) correct their order's total. Lines are priced by ``_priced``, in bigint
# where the cost fits (numeric pricing was a third of the statement). Each order comes back with
# its total, whether it breaches its limit, and its moved lines and their units.
_ALLOCATE_PRO_RATA = sa.text(
    f"""
WITH product AS (
  SELECT p.*, p.bought <= p.firm AS cut, abs(p.bought - p.firm) AS share,
         CASE WHEN p.bought <= p.firm THEN p.firm ELSE p.flex END AS weights,
         CASE WHEN p.bought <= p.firm THEN -1 ELSE 1 END AS direction
    FROM unnest(:products, :bought, :firm, :flex, :prices, :markups, :costs, :dearest, :hold_markups, :hold_costs)
         AS p(product_id, bought, firm, flex, price, markup, cost, dearest, hold_markup, hold_cost)
),
line AS (
  SELECT l.id, l.order_id, o.placed_seq, l.product_id, l.quantity,
         CAST(CASE WHEN p.cut THEN l.quantity ELSE l.flex_quantity END AS bigint) AS weight,
         {_priced("l.quantity", "p.cost", "p.price", "p.markup")} AS firm_total,
         {_priced("(l.quantity + l.flex_quantity)", "p.hold_cost", "p.dearest", "p.hold_markup")} AS limit_cents
    FROM order_line l
    JOIN buy_order o ON o.id = l.order_id
    JOIN product p ON p.product_id = l.product_id
   WHERE l.group_buy_id = :gb AND o.status = 'open'
),
weighed AS (
  SELECT p.product_id, p.cut, p.price, p.markup, p.cost, p.share, p.direction, w.weight, w.lines,
         p.share * w.weight / p.weights AS floor_units, p.share * w.weight % p.weights AS remainder
    FROM (SELECT product_id, weight, count(*) AS lines FROM line WHERE weight > 0 GROUP BY product_id, weight) w
    JOIN product p ON p.product_id = w.product_id
   WHERE p.share > 0
),{WEIGHT_SHARES},
moving AS (
  SELECT line.id, line.order_id, line.quantity, line.firm_total, w.cut, w.price, w.markup, w.cost,
         w.floor_units + CASE WHEN row_number() OVER (
             PARTITION BY w.product_id, w.weight ORDER BY w.direction * line.placed_seq, w.direction * line.order_id
           ) <= w.takes THEN 1 ELSE 0 END AS moved
    FROM line
    JOIN weight_share w ON w.product_id = line.product_id AND w.weight = line.weight
   -- a semi-join first, so the planner hashes the few weights that move, not the lines
   WHERE (line.product_id, line.weight) IN (
           SELECT product_id, weight FROM weight_share WHERE floor_units > 0 OR takes > 0)
),
moved AS (
  SELECT id, order_id, units,
         {_priced("units", "cost", "price", "markup")} - firm_total AS change
    FROM (SELECT moving.*, CASE WHEN cut THEN quantity - moved ELSE quantity + moved END AS units FROM moving) m
   WHERE moved > 0
),
per_order AS (
  SELECT o.order_id, o.total + coalesce(m.change, 0) AS total, o.limit_cents, m.line_ids, m.units
    FROM (SELECT order_id, sum(firm_total) AS total, sum(limit_cents) AS limit_cents FROM line GROUP BY order_id) o
    LEFT JOIN (SELECT order_id, sum(change) AS change, array_agg(id) AS line_ids, array_agg(units) AS units
                 FROM moved GROUP BY order_id) m ON m.order_id = o.order_id
)
SELECT order_id, CAST(total AS bigint), total > limit_cents, line_ids, units FROM per_order
"""  # noqa: S608 - module constants; every value is a bound parameter
).bindparams(
    sa.bindparam("products", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("bought", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("firm", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("flex", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("prices", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("markups", type_=ARRAY(sa.Numeric)),
    sa.bindparam("costs", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("dearest", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("hold_markups", type_=ARRAY(sa.Numeric)),
    sa.bindparam("hold_costs", type_=ARRAY(sa.BigInteger)),
)


async def _allocate_pro_rata(session: AsyncSession, group_buy: GroupBuy, plan: ClosePlan) -> dict[int, int]:
    """Allocate and price every line set-based; each order's total (a breach of max_total_cents is a 409).

    Only the lines whose allocation is not their firm quantity are written (an open order's
    lines hold no allocation: only the close writes one, as it moves the order on).
    """
    items = (await session.exec(select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy.id))).all()
    prices = {product_id: p for (_, product_id), p in (await item_prices(session, items)).items()}
    markups = {i.product_id: i.markup_rate if i.markup_rate is not None else Decimal(0) for i in items}
    outcomes = plan.products
    dearest = {o.product_id: opening_unit_price_cents(prices[o.product_id].tiers) for o in outcomes}
    # Q and F are the plan's running totals of these same lines, read under the buy's lock.
    # The lines (10,000 orders x 50 products), kept once for the statement's passes, fit in
    # memory with this.
    await session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    rows = (
        await session.execute(
            _ALLOCATE_PRO_RATA,
            {
                "gb": group_buy.id,
                "products": [o.product_id for o in outcomes],
                "bought": [o.bought for o in outcomes],
                "firm": [o.quantity for o in outcomes],
                "flex": [o.flex for o in outcomes],
                "prices": [o.unit_price_cents for o in outcomes],
                "markups": [markups[o.product_id] for o in outcomes],
                # No line of a product has more units than its Q + F.
                "costs": [
                    unit_cost_millionths(o.unit_price_cents, markups[o.product_id], o.quantity + o.flex)
                    for o in outcomes
                ],
                "dearest": [dearest[o.product_id] for o in outcomes],
                "hold_markups": [prices[o.product_id].markup_rate for o in outcomes],
                "hold_costs": [
                    unit_cost_millionths(dearest[o.product_id], prices[o.product_id].markup_rate, o.quantity + o.flex)
                    for o in outcomes
                ],
            },
        )
    ).all()
    if over := sorted(int(order_id) for order_id, _, breach, *_ in rows if breach):
        msg = f"group buy {group_buy.id}: orders {over} would cost more than their max_total_cents"
        raise ConflictError(msg, code="charge_above_max_total")
    moved: dict[str, list[int]] = {"ids": [], "units": []}
    for *_, line_ids, units in rows:
        if line_ids:
            moved["ids"] += line_ids
            moved["units"] += units
    if moved["ids"]:
        await session.execute(_ALLOCATE_LINES, moved)
    return {int(order_id): int(total) for order_id, total, *_ in rows}


async def _allocate_from_plan(session: AsyncSession, group_buy: GroupBuy, plan: ClosePlan) -> dict[int, int]:
    """Price every line by the plan's allocations (first come); each order's total."""
    items = (await session.exec(select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy.id))).all()
    prices = {product_id: p for (_, product_id), p in (await item_prices(session, items)).items()}
    markups = {i.product_id: i.markup_rate if i.markup_rate is not None else Decimal(0) for i in items}
    rows = (
        await session.execute(
            sa.select(
                col(OrderLine.id),
                col(OrderLine.order_id),
                col(OrderLine.product_id),
                col(OrderLine.quantity) + col(OrderLine.flex_quantity),
                sa.func.coalesce(col(OrderLine.allocated_quantity), col(OrderLine.quantity)),
            )
            .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
            .where(col(OrderLine.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.OPEN.value)
        )
    ).all()
    outcomes = {o.product_id: o for o in plan.products}
    updates: dict[str, list[int]] = {"ids": [], "units": []}
    totals: dict[int, int] = defaultdict(int)
    limits: dict[int, int] = defaultdict(int)
    # A product's lines share their price and markup and differ only in units: each distinct
    # (product, units) is priced once, not once per line.
    line_totals: dict[tuple[int, int], int] = {}
    line_limits: dict[tuple[int, int], int] = {}
    for line_id, order_id, product_id, units_asked, stored in rows:
        outcome = outcomes[product_id]
        units = outcome.allocations.get(order_id, 0)
        if (total := line_totals.get((product_id, units))) is None:
            total = line_totals[product_id, units] = line_total_cents(
                units, outcome.unit_price_cents, markups[product_id]
            )
        if (limit := line_limits.get((product_id, units_asked))) is None:
            price = prices[product_id]
            limit = line_limits[product_id, units_asked] = max_order_total_cents(
                units_asked, price.tiers, price.markup_rate
            )
        totals[order_id] += total
        limits[order_id] += limit
        if units != stored:  # a line left alone is allocated its firm quantity
            updates["ids"].append(line_id)
            updates["units"].append(units)
    if over := charge_limit_errors(totals, limits):
        msg = f"group buy {group_buy.id}: orders {over} would cost more than their max_total_cents"
        raise ConflictError(msg, code="charge_above_max_total")
    if updates["ids"]:
        await session.execute(_ALLOCATE_LINES, updates)
    return totals


async def _order(session: AsyncSession, group_buy: GroupBuy, plan: ClosePlan, now: datetime) -> None:
    """Allocate every line at the pinned tier price and markup, and tell members and the supplier.

    No order may cost more than its ``max_total_cents`` (what its member was shown): the
    tier fixed at close is never dearer than the first one of the same pinned version, so
    a breach is a bug, and the close is refused rather than charging it.
    """
    if AllocationPolicy(group_buy.allocation_policy) is AllocationPolicy.PRO_RATA:
        totals = await _allocate_pro_rata(session, group_buy, plan)
    else:
        totals = await _allocate_from_plan(session, group_buy, plan)
    check_order_transition(OrderStatus.OPEN, OrderStatus.ALLOCATED)  # set-based: every open order of the buy
    members = sorted(
        (int(order_id), int(member_id))
        for order_id, member_id in await session.execute(
            sa.update(BuyOrder)
            .where(col(BuyOrder.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.OPEN.value)
            .values(status=OrderStatus.ALLOCATED.value, updated_at=now)
            .returning(col(BuyOrder.id), col(BuyOrder.member_id))
        )
    )
    # A held buy goes ahead by the staff's decision; an open one is ordered by its close.
    event = GroupBuyEvent.PROCEED if group_buy.status == GroupBuyStatus.ON_HOLD else GroupBuyEvent.ORDER
    group_buy.status = move_group_buy(group_buy.status, event, group_buy_id=group_buy.id).value
    group_buy.held = False
    # Every order is told its total: one notice an order, as columns (10,000 in the bench).
    await notifications.record_each(
        session,
        event="order.allocated",
        business_keys=[f"group_buy:{group_buy.id}:allocated:{order_id}" for order_id, _ in members],
        audiences=[member_audience(member_id) for _, member_id in members],
        data={
            "group_buy_id": [str(group_buy.id)] * len(members),
            "order_id": [str(order_id) for order_id, _ in members],
            "total_cents": [totals.get(order_id, 0) for order_id, _ in members],
        },
    )
    await notifications.record(
        session,
        event="purchase_order.issued",
        audience=supplier_audience(group_buy.supplier_id),
        data={"group_buy_id": str(group_buy.id), "total_cents": plan.supplier_value_cents},
        business_key=f"group_buy:{group_buy.id}:purchase_order",
    )


async def proceed_group_buy(session: AsyncSession, group_buy_id: int, *, now: datetime) -> GroupBuyView:
    """Staff decide a held buy goes ahead although its minimum was missed: order at the frozen prices."""
    group_buy = await locked_group_buy(session, group_buy_id)
    status = GroupBuyStatus(group_buy.status)
    if next_status(status, GroupBuyEvent.PROCEED) is None:
        if status in CLOSED:
            return await get_group_buy(session, group_buy_id)
        raise ConflictError(f"group buy {group_buy_id} is {status}, not on hold for a decision")
    plan = await _plan(session, group_buy)
    if plan.nothing_to_order:
        await _cancel(session, group_buy, now, plan.reason)
    else:
        await _order(session, group_buy, plan, now)
        group_buy.status_reason = f"{group_buy.status_reason}; staff decided to proceed"
    session.add(group_buy)
    await session.flush()
    return await get_group_buy(session, group_buy_id)


async def cancel_group_buy(session: AsyncSession, group_buy_id: int, *, now: datetime, reason: str) -> GroupBuyView:
    """Staff call a buy off before it is ordered (scheduled, open or held); cancelling twice is harmless."""
    group_buy = await locked_group_buy(session, group_buy_id)
    status = GroupBuyStatus(group_buy.status)
    if status is GroupBuyStatus.CANCELLED:
        return await get_group_buy(session, group_buy_id)
    if next_status(status, GroupBuyEvent.CANCEL) is None:
        raise ConflictError(f"group buy {group_buy_id} is {status}; it can no longer be cancelled")
    if status is GroupBuyStatus.OPEN:
        now = max(now, utc_now())  # when it took effect, after waiting for the lock
        await _freeze(session, group_buy, await _plan(session, group_buy))
        group_buy.closed_at = now
    await _cancel(session, group_buy, now, reason)
    session.add(group_buy)
    await session.flush()
    return await get_group_buy(session, group_buy_id)
