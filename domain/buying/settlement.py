"""Delivery and settlement: shortages re-allocated, trade accounts charged, patronage written."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from domain.buying import supplier_transfers
from domain.buying.closing import WEIGHT_SHARES, demands_of
from domain.buying.rules import (
    AllocationPolicy,
    Delivered,
    DeliveryPlan,
    GroupBuyEvent,
    GroupBuyStatus,
    OrderStatus,
    PaymentMode,
    charge_limit_errors,
    check_order_transition,
    delivery_errors,
    move_group_buy,
    payable_cents,
    plan_delivery,
)
from domain.buying.rules import DeliveryLine as DeliveryLine  # noqa: PLC0414 - re-exported
from domain.buying.rules.corrections import CorrectionLine as CorrectionLine  # noqa: PLC0414 - re-exported
from domain.buying.rules.corrections import SettledProduct, correction_errors, plan_correction
from domain.buying.rules.marketing import DEFAULT_MARKETING_POOL, SellerPatronage, seller_give_back, seller_sale
from domain.buying.service import (
    GroupBuyView,
    get_group_buy,
    locked_group_buy,
    member_audience,
    visible_group_buy,
)
from domain.buying.tables import LINE_ITEM, BuyCorrection, BuyOrder, GroupBuy, GroupBuyItem, OrderLine
from domain.catalog.tables import Supplier
from domain.errors import ConflictError, InvalidInputError
from domain.jobs import service as outbox
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side
from domain.membership.tables import Member
from domain.notifications import service as notifications
from domain.patronage import service as patronage
from domain.payments import card_holds

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession


SETTLE_JOB = "settle_group_buy"


def settle_job_key(group_buy_id: int) -> str:
    """The settlement job's business key: one per buy."""
    return f"group_buy:{group_buy_id}:settle"


def settlement_entry_key(group_buy_id: int) -> str:
    """The key of the one journal entry that charges every member of a settled buy."""
    return f"settle:{group_buy_id}"


async def record_delivery(
    session: AsyncSession,
    group_buy_id: int,
    lines: Sequence[DeliveryLine],
    *,
    now: datetime,
    only_supplier_id: int | None = None,
) -> GroupBuyView:
    """The supplier (or staff) reports what came; shortages are re-allocated and settlement is queued.

    Runs once: a second report is a 409 and charges nobody twice. The lines are priced
    here (delivered units at the tier frozen at close) and the buy is `delivered`; the
    settlement job (`settle`) then charges the trade accounts and writes patronage.
    """
    await visible_group_buy(session, group_buy_id, only_supplier_id)
    group_buy = await locked_group_buy(session, group_buy_id)
    status = GroupBuyStatus(group_buy.status)
    if status in {GroupBuyStatus.DELIVERED, GroupBuyStatus.SETTLED}:
        raise ConflictError(f"the delivery of group buy {group_buy_id} was already recorded")
    if status is not GroupBuyStatus.ORDERED:
        raise ConflictError(f"group buy {group_buy_id} is {status}; only an ordered buy can be delivered")
    items = {
        i.product_id: i
        for i in (await session.exec(select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy_id))).all()
    }
    if errors := delivery_errors(lines, {p: i.bought_quantity or 0 for p, i in items.items()}):
        raise InvalidInputError("the delivery is not valid", errors)
    delivered = {line.product_id: line.delivered_quantity for line in lines}
    if AllocationPolicy(group_buy.allocation_policy) is AllocationPolicy.PRO_RATA:
        over = await _deliver_pro_rata(session, group_buy_id, items, delivered)
    else:
        plan = await _plan_delivery(session, group_buy, items, delivered)
        over = charge_limit_errors(plan.charges, await _allocated_totals(session, group_buy_id))
        if not over:
            await _write_lines(session, group_buy_id, items, plan)
    # Delivered units are at most the allocated ones, at the same price: a charge above the
    # order's total at close (itself within max_total_cents) is a bug, never a bill.
    if over:
        msg = f"group buy {group_buy_id}: orders {over} would be charged more than allocated at close"
        raise ConflictError(msg, code="charge_above_max_total")
    await _write_items(session, group_buy_id, items, delivered)
    group_buy.status = move_group_buy(group_buy.status, GroupBuyEvent.DELIVER, group_buy_id=group_buy_id).value
    group_buy.delivered_at = now
    session.add(group_buy)
    await outbox.add(session, SETTLE_JOB, settle_job_key(group_buy_id), {"group_buy_id": group_buy_id})
    await session.flush()
    return await get_group_buy(session, group_buy_id)


# A line's units after close: stored only where the close did not give it its firm quantity.
_ALLOCATED = sa.func.coalesce(col(OrderLine.allocated_quantity), col(OrderLine.quantity))
# A line's total at close, priced as the close priced it (line_total_cents; round() is HALF_UP here).
_ALLOCATED_TOTAL = sa.cast(
    sa.func.round(
        _ALLOCATED * col(GroupBuyItem.unit_price_cents) * (1 + sa.func.coalesce(col(GroupBuyItem.markup_rate), 0))
    ),
    sa.BigInteger,
)


async def _allocated_totals(session: AsyncSession, group_buy_id: int) -> dict[int, int]:
    """Each allocated order's total as fixed at close (its lines priced at the items' frozen prices)."""
    rows = (
        await session.execute(
            sa.select(col(OrderLine.order_id), sa.func.coalesce(sa.func.sum(_ALLOCATED_TOTAL), 0))
            .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
            .join(GroupBuyItem, LINE_ITEM)
            .where(col(OrderLine.group_buy_id) == group_buy_id, col(BuyOrder.status) == OrderStatus.ALLOCATED.value)
            .group_by(col(OrderLine.order_id))
        )
    ).all()
    return {int(order_id): int(total) for order_id, total in rows}


async def _plan_delivery(
    session: AsyncSession, group_buy: GroupBuy, items: dict[int, GroupBuyItem], delivered: dict[int, int]
) -> DeliveryPlan:
    policy = AllocationPolicy(group_buy.allocation_policy)
    rows = (
        await session.execute(
            sa.select(col(OrderLine.product_id), col(OrderLine.order_id), _ALLOCATED)
            .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
            .where(col(OrderLine.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.ALLOCATED.value)
            .order_by(col(OrderLine.product_id), col(BuyOrder.placed_seq), col(BuyOrder.id))
        )
    ).all()
    allocations: dict[int, dict[int, int]] = defaultdict(dict)
    for product_id, order_id, allocated in rows:
        allocations[product_id][order_id] = allocated or 0
    demands = await demands_of(session, group_buy.id or 0) if policy is AllocationPolicy.FIRST_COME else {}
    products = []
    for product_id, item in sorted(items.items(), key=lambda kv: kv[1].position):
        by_order = {d.member_key: d.increments for d in demands.get(product_id, [])}
        products.append(
            Delivered(
                product_id=product_id,
                pool=item.pool,
                unit_price_cents=item.unit_price_cents or 0,
                markup_rate=_markup(item),
                delivered=delivered.get(product_id, 0),
                allocations=allocations.get(product_id, {}),
                increments=by_order if policy is AllocationPolicy.FIRST_COME else None,
            )
        )
    return plan_delivery(products, policy)


def _markup(item: GroupBuyItem) -> Decimal:
    assert item.markup_rate is not None  # noqa: S101 - frozen at close
    return item.markup_rate


# Pro rata at delivery (reallocate_delivery): each product's delivered units D shared by the
# units allocated at close (a line the close left alone has its firm quantity), LRM(D,
# allocated_i), then each line priced once at the frozen price and markup (line_total_cents,
# HALF_UP). As the close does, the lines are counted per (product, weight) and those groups
# ranked (``WEIGHT_SHARES``); at the weight where the units run out the first ``takes`` lines by
# first order take one, the only lines sorted. The lines are read once into ``line``
# (materialised: every later step scans it). Every line gets its allocation, unit price,
# delivered units and total, so after delivery nothing is left to the item. The lines are
# written only if no order would be charged more than its total at close; the orders that would
# are returned.
_DELIVER_PRO_RATA = sa.text(
    f"""
WITH came AS (
  SELECT * FROM unnest(:products, :delivered, :prices, :markups, :pools)
           AS c(product_id, delivered, price, markup, pool)
),
line AS MATERIALIZED (
  SELECT l.id, l.order_id, o.placed_seq, l.product_id,
         CAST(coalesce(l.allocated_quantity, l.quantity) AS bigint) AS weight
    FROM order_line l
    JOIN buy_order o ON o.id = l.order_id
   WHERE l.group_buy_id = :gb AND o.status = 'allocated'
),
grouped AS (
  SELECT w.product_id, w.weight, w.lines, c.delivered AS share,
         CAST(sum(w.weight * w.lines) OVER (PARTITION BY w.product_id) AS bigint) AS weights
    FROM (SELECT product_id, weight, count(*) AS lines FROM line WHERE weight > 0 GROUP BY product_id, weight) w
    JOIN came c ON c.product_id = w.product_id
),
weighed AS (
  SELECT grouped.*, share * weight / weights AS floor_units, share * weight % weights AS remainder, 1 AS direction
    FROM grouped
),{WEIGHT_SHARES},
boundary AS (
  SELECT line.id,
         row_number() OVER (PARTITION BY line.product_id ORDER BY line.placed_seq, line.order_id) <= w.takes AS takes
    FROM line
    JOIN weight_share w ON w.product_id = line.product_id AND w.weight = line.weight
   -- a semi-join first, so the planner hashes the one weight a product, not the lines
   WHERE (line.product_id, line.weight) IN (
           SELECT product_id, weight FROM weight_share WHERE 0 < takes AND takes < lines)
),
shared AS (
  SELECT line.id, line.order_id, line.weight, c.pool, c.price, c.markup,
         coalesce(w.floor_units, 0) + CASE WHEN w.takes = w.lines OR b.takes THEN 1 ELSE 0 END AS units
    FROM line
    JOIN came c ON c.product_id = line.product_id
    LEFT JOIN weight_share w ON w.product_id = line.product_id AND w.weight = line.weight
    LEFT JOIN boundary b ON b.id = line.id
),
priced AS (
  SELECT id, order_id, pool, weight, units, price,
         CAST(round(weight * price * (1 + markup)) AS bigint) AS allocated_total,
         CAST(round(units * price * (1 + markup)) AS bigint) AS total
    FROM shared
),
breach AS (
  SELECT order_id FROM priced GROUP BY order_id HAVING sum(total) > sum(allocated_total)
),
written AS (
  UPDATE order_line l
     SET allocated_quantity = p.weight, delivered_quantity = p.units, unit_price_cents = p.price, total_cents = p.total
    FROM priced p
   WHERE l.id = p.id AND NOT EXISTS (SELECT FROM breach)
),
totals AS (
  INSERT INTO order_delivery_total (group_buy_id, order_id, pool, delivered_cents, short_units)
  SELECT :gb, order_id, pool, sum(total), sum(weight - units)
    FROM priced
   WHERE NOT EXISTS (SELECT FROM breach)
   GROUP BY order_id, pool
)
SELECT order_id FROM breach ORDER BY order_id
"""  # noqa: S608 - module constants; every value is a bound parameter
).bindparams(
    sa.bindparam("products", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("delivered", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("prices", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("markups", type_=ARRAY(sa.Numeric)),
    sa.bindparam("pools", type_=ARRAY(sa.Text)),
)


async def _deliver_pro_rata(
    session: AsyncSession, group_buy_id: int, items: dict[int, GroupBuyItem], delivered: dict[int, int]
) -> list[int]:
    """Re-allocate and price every line set-based; the orders that would be charged above their close total."""
    products = sorted(items)
    await session.execute(sa.text("SET LOCAL work_mem = '64MB'"))  # the lines' sorts in memory
    rows = await session.execute(
        _DELIVER_PRO_RATA,
        {
            "gb": group_buy_id,
            "products": products,
            "delivered": [delivered.get(p, 0) for p in products],
            "prices": [items[p].unit_price_cents or 0 for p in products],
            "markups": [_markup(items[p]) for p in products],
            "pools": [items[p].pool for p in products],
        },
    )
    return [int(order_id) for (order_id,) in rows]


# Every line's delivery in one statement, the rows passed as arrays (not one UPDATE per line),
# and in the same statement each order's delivered total and units short per pool, which the
# settlement reads instead of the lines.
_DELIVER_LINES = sa.text("""
WITH u AS (
  SELECT * FROM unnest(:orders, :products, :pools, :allocated, :delivered, :short, :prices, :totals)
           AS u(order_id, product_id, pool, allocated, delivered, short, price, total)
),
written AS (
  UPDATE order_line l
     SET allocated_quantity = u.allocated, delivered_quantity = u.delivered, unit_price_cents = u.price,
         total_cents = u.total
    FROM u
   WHERE l.group_buy_id = :gb AND l.order_id = u.order_id AND l.product_id = u.product_id
)
INSERT INTO order_delivery_total (group_buy_id, order_id, pool, delivered_cents, short_units)
SELECT :gb, order_id, pool, sum(total), sum(short) FROM u GROUP BY order_id, pool
""").bindparams(
    sa.bindparam("orders", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("products", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("pools", type_=ARRAY(sa.Text)),
    sa.bindparam("allocated", type_=ARRAY(sa.Integer)),
    sa.bindparam("delivered", type_=ARRAY(sa.Integer)),
    sa.bindparam("short", type_=ARRAY(sa.Integer)),
    sa.bindparam("prices", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("totals", type_=ARRAY(sa.BigInteger)),
)


async def _write_lines(
    session: AsyncSession, group_buy_id: int, items: dict[int, GroupBuyItem], plan: DeliveryPlan
) -> None:
    """Every line's delivery, with the allocation and unit price the close left to the item (see closed_line)."""
    if plan.lines:
        await session.execute(
            _DELIVER_LINES,
            {
                "gb": group_buy_id,
                "orders": [ln.order_key for ln in plan.lines],
                "products": [ln.product_id for ln in plan.lines],
                "pools": [ln.pool for ln in plan.lines],
                "allocated": [ln.allocated for ln in plan.lines],
                "delivered": [ln.delivered for ln in plan.lines],
                "short": [ln.allocated - ln.delivered for ln in plan.lines],
                "prices": [items[ln.product_id].unit_price_cents or 0 for ln in plan.lines],
                "totals": [ln.total_cents for ln in plan.lines],
            },
        )


# Every item's delivered units in one statement (0 for a product not reported).
_DELIVER_ITEMS = sa.text("""
UPDATE group_buy_item i SET delivered_quantity = u.delivered
  FROM unnest(:products, :delivered) AS u(product_id, delivered)
 WHERE i.group_buy_id = :gb AND i.product_id = u.product_id
""").bindparams(
    sa.bindparam("products", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("delivered", type_=ARRAY(sa.Integer)),
)


async def _write_items(
    session: AsyncSession, group_buy_id: int, items: dict[int, GroupBuyItem], delivered: dict[int, int]
) -> None:
    products = sorted(items)
    await session.execute(
        _DELIVER_ITEMS, {"gb": group_buy_id, "products": products, "delivered": [delivered.get(p, 0) for p in products]}
    )


async def _owe_supplier(session: AsyncSession, group_buy: GroupBuy, *, payable: int, cost: int, now: datetime) -> int:
    """The co-op now owes the supplier the delivered units at the tier price fixed at close; what it owes."""
    query = select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id) == group_buy.id)
    # populate_existing: the delivery was written by UPDATE statements after these rows were loaded
    items = (await session.exec(query.execution_options(populate_existing=True))).all()
    owed = sum(payable_cents(i.delivered_quantity, i.unit_price_cents) for i in items)
    if owed == 0:
        return 0
    await ledger.post_entry(
        session,
        kind="supplier_payable",
        idempotency_key=f"supplier_payable:{group_buy.id}",
        occurred_at=now,
        lines=[PostingLine(cost, Side.DEBIT, owed), PostingLine(payable, Side.CREDIT, owed)],
        memo=f"purchase order of group buy {group_buy.id}: {group_buy.title}"[:500],
    )
    return owed


async def _seller_of(session: AsyncSession, supplier_id: int) -> int | None:
    """The member business the supplier is, if it is one; the link is read FOR SHARE, so a change waits."""
    linked = (
        await session.execute(
            sa.select(col(Supplier.member_id)).where(col(Supplier.id) == supplier_id).with_for_update(read=True)
        )
    ).scalar_one_or_none()
    return None if linked is None else int(linked)


async def _record_seller(
    session: AsyncSession, group_buy_id: int, sale: SellerPatronage | None, key: str, at: datetime, fy_month: int
) -> None:
    """Write a member-supplier's marketing patronage (rules.marketing decided who gets what)."""
    if sale is None:
        return
    dates = (await _member_dates(session, [sale.member_id]))[sale.member_id]
    await patronage.record_sales(
        session,
        [patronage.Sale(dates, sale.pool, sale.amount_cents, at, group_buy_id, key)],
        fiscal_year_start_month=fy_month,
    )


@dataclass(frozen=True, slots=True)
class _Settled:
    """An allocated order as delivered: what its member is charged and how many units came short."""

    order_id: int
    member_id: int
    charge_cents: int
    short_units: int


# Everything settlement needs, without reading the lines: each allocated order's delivered
# total and units short per pool, stored by the delivery in the statement that priced the
# lines (order_delivery_total), with the member's dates. The order's charge and shortage are
# the sums of its pools; the member's purchase in a pool is the pool's total when above zero
# (one order a member in a buy, `uq_buy_order_group_buy_member`). An allocated order with no
# row (no lines) is still settled, with nothing charged.
_SETTLED = sa.text("""
SELECT o.id, o.member_id, m.joined_at, m.left_at, t.pool, coalesce(t.delivered_cents, 0), coalesce(t.short_units, 0)
  FROM buy_order o
  JOIN member m ON m.id = o.member_id
  LEFT JOIN order_delivery_total t ON t.group_buy_id = o.group_buy_id AND t.order_id = o.id
 WHERE o.group_buy_id = :gb AND o.status = 'allocated'
 ORDER BY o.id, t.pool
""")


@dataclass(frozen=True, slots=True)
class _Delivered:
    """The buy's allocated orders as delivered, and each member's purchases by pool."""

    orders: list[_Settled]
    purchases: list[tuple[patronage.MemberDates, str, int]]


async def _settled_orders(session: AsyncSession, group_buy_id: int) -> _Delivered:
    """Every allocated order with its delivered totals (the delivery priced the lines and summed them)."""
    orders: list[_Settled] = []
    purchases = []
    rows = (await session.execute(_SETTLED, {"gb": group_buy_id})).all()
    for order_id, member_id, joined, left, pool, charge, short in rows:
        if orders and orders[-1].order_id == order_id:  # the order's next pool
            last = orders[-1]
            orders[-1] = _Settled(
                last.order_id, last.member_id, last.charge_cents + int(charge), last.short_units + int(short)
            )
        else:
            orders.append(_Settled(int(order_id), int(member_id), int(charge), int(short)))
        if charge > 0:  # one order a member in a buy: the member's purchase in the pool
            purchases.append((patronage.MemberDates(int(member_id), joined, left), str(pool), int(charge)))
    return _Delivered(orders, purchases)


async def settle(
    session: AsyncSession,
    group_buy_id: int,
    *,
    now: datetime,
    fiscal_year_start_month: int,
    marketing_pool: str = DEFAULT_MARKETING_POOL,
) -> bool:
    """The settlement job: charge each member's trade account, owe the supplier, write patronage.

    Set-based, so its statements do not grow with the orders: one reads the orders' totals the
    delivery stored, one posts the buy's one charge entry (a debit a member), one writes every
    patronage record, one settles every order, one records every notice (one an order).
    Done-ness is the buy's status, set in the same transaction: a second run (or a run after
    a worker died mid-job, whose transaction rolled back) finds the buy `settled` and changes
    nothing. Entries and patronage are dated at the delivery.
    """
    group_buy = await locked_group_buy(session, group_buy_id)
    status = GroupBuyStatus(group_buy.status)
    if status is GroupBuyStatus.SETTLED:
        return False
    if status is not GroupBuyStatus.DELIVERED or group_buy.delivered_at is None:
        raise ConflictError(f"group buy {group_buy_id} is {status}; only a delivered buy can be settled")
    at = group_buy.delivered_at
    delivered = await _settled_orders(session, group_buy_id)
    settled = delivered.orders
    charged = [o for o in settled if o.charge_cents > 0]
    specs = {o.member_id: chart.member_trade(o.member_id) for o in charged}
    trade = await ledger.account_ids(session, list(specs.values()))
    sales = await ledger.account_id(session, chart.SALES)
    payable = await ledger.account_id(session, chart.supplier_payable(group_buy.supplier_id))
    cost = await ledger.account_id(session, chart.COST_OF_GOODS)
    # Every account this settlement touches, locked up front in id order, so that it never
    # deadlocks with payments or other settlements touching the same accounts.
    await ledger.lock_accounts(session, [*trade.values(), sales, payable, cost])
    owed = await _owe_supplier(session, group_buy, payable=payable, cost=cost, now=at)
    # A member-supplier's sale is its patronage in the marketing pool, dated as the payable.
    sale = seller_sale(await _seller_of(session, group_buy.supplier_id), owed, marketing_pool)
    await _record_seller(session, group_buy_id, sale, f"sale:group_buy:{group_buy_id}", at, fiscal_year_start_month)
    if charged:  # one movement, one entry: each member's trade account debited, the sales credited with the sum
        await ledger.post_entry_lines(
            session,
            kind="group_buy_charge",
            idempotency_key=settlement_entry_key(group_buy_id),
            memo=f"group buy {group_buy_id}: {group_buy.title}"[:500],
            occurred_at=at,
            lines=[
                *(PostingLine(trade[specs[o.member_id].code], Side.DEBIT, o.charge_cents) for o in charged),
                PostingLine(sales, Side.CREDIT, sum(o.charge_cents for o in charged)),
            ],
        )
    await patronage.record_purchases(
        session,
        [patronage.Purchase(dates, pool, cents, at, group_buy_id) for dates, pool, cents in delivered.purchases],
        fiscal_year_start_month=fiscal_year_start_month,
    )
    check_order_transition(OrderStatus.ALLOCATED, OrderStatus.SETTLED)  # set-based: every allocated order of the buy
    await session.execute(
        sa.update(BuyOrder)
        .where(col(BuyOrder.group_buy_id) == group_buy_id, col(BuyOrder.status) == OrderStatus.ALLOCATED.value)
        .values(status=OrderStatus.SETTLED.value, updated_at=now)
    )
    # Every order is told what it was charged: one notice an order, as columns (10,000 in the bench).
    await notifications.record_each(
        session,
        event="order.settled",
        business_keys=[f"group_buy:{group_buy_id}:settled:{o.order_id}" for o in settled],
        audiences=[member_audience(o.member_id) for o in settled],
        data={
            "group_buy_id": [str(group_buy_id)] * len(settled),
            "order_id": [str(o.order_id) for o in settled],
            "charged_cents": [o.charge_cents for o in settled],
            "short_units": [o.short_units for o in settled],
        },
    )
    if group_buy.payment_mode == PaymentMode.CARD:
        # The trade accounts are charged as in account mode; each capture then pays the charge by card.
        await card_holds.settle_holds(session, {o.order_id: o.charge_cents for o in settled}, now)
        await supplier_transfers.request_transfer(session, group_buy)  # paid by Connect, when configured
    group_buy.status = move_group_buy(group_buy.status, GroupBuyEvent.SETTLE, group_buy_id=group_buy_id).value
    group_buy.settled_at = now
    session.add(group_buy)
    await session.flush()
    return True


async def _member_dates(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, patronage.MemberDates]:
    """When each member joined and left: a purchase or sale counts as member business by its date."""
    rows = await session.execute(
        sa.select(col(Member.id), col(Member.joined_at), col(Member.left_at)).where(
            col(Member.id) == sa.any_(sa.bindparam("members", list(member_ids), type_=ARRAY(sa.BigInteger)))
        )
    )
    return {m: patronage.MemberDates(m, joined, left) for m, joined, left in rows.all()}


@dataclass(frozen=True, slots=True)
class Correction:
    """A correction as answered: what each order was given back."""

    id: int
    group_buy_id: int
    reason: str
    refunds: dict[int, int]
    created_at: datetime


async def correct_delivery(
    session: AsyncSession,
    group_buy_id: int,
    lines: Sequence[CorrectionLine],
    *,
    reason: str,
    actor: int | None,
    now: datetime,
    fiscal_year_start_month: int,
) -> Correction:
    """Staff lower the delivered units of a settled buy: each member is given back the difference.

    The lines shrink (units taken off shared by delivered units, re-priced once), the charge
    difference is reversed on the trade account (sales debited), the supplier is owed less
    and negative patronage is written; in card mode a job refunds each captured order its
    difference (``refund:<order>:<correction>``). 409 unless the buy is settled; 400 for a
    line that does not lower a delivered product.
    """
    await visible_group_buy(session, group_buy_id, None)
    group_buy = await locked_group_buy(session, group_buy_id)
    if GroupBuyStatus(group_buy.status) is not GroupBuyStatus.SETTLED:
        raise ConflictError(f"group buy {group_buy_id} is {group_buy.status}; only a settled buy can be corrected")
    items = {
        i.product_id: i
        for i in (
            await session.exec(
                select(GroupBuyItem)
                .where(col(GroupBuyItem.group_buy_id) == group_buy_id)
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    if errors := correction_errors(lines, {p: i.delivered_quantity or 0 for p, i in items.items()}):
        raise InvalidInputError("the correction is not valid", errors)
    settled = (
        await session.execute(
            sa.select(
                col(OrderLine.id),
                col(OrderLine.order_id),
                col(OrderLine.product_id),
                col(OrderLine.delivered_quantity),
                col(OrderLine.total_cents),
            )
            .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
            .where(col(OrderLine.group_buy_id) == group_buy_id, col(BuyOrder.status) == OrderStatus.SETTLED.value)
            .with_for_update(of=OrderLine)
        )
    ).all()
    by_product: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    line_ids = {}
    for line_id, order_id, product_id, units, total in settled:
        by_product[product_id][order_id] = (units or 0, total or 0)
        line_ids[order_id, product_id] = line_id
    plan = plan_correction(
        [
            SettledProduct(p, i.pool, i.unit_price_cents or 0, _markup(i), i.delivered_quantity or 0, by_product[p])
            for p, i in sorted(items.items())
        ],
        {line.product_id: line.delivered_quantity for line in lines},
    )
    correction = BuyCorrection(
        group_buy_id=group_buy_id,
        reason=reason[:500],
        refunded_cents=sum(plan.refunds.values()),
        actor_user_id=actor,
        created_at=now,
    )
    session.add(correction)
    await session.flush()
    assert correction.id is not None  # noqa: S101 - flushed
    changed = list(plan.lines)
    if changed:
        await session.execute(
            sa.update(OrderLine),
            [
                {
                    "id": line_ids[ln.order_key, ln.product_id],
                    "delivered_quantity": ln.delivered,
                    "total_cents": ln.total_cents,
                }
                for ln in changed
            ],
        )
    for product_id, units in plan.delivered.items():
        await session.execute(
            sa.update(GroupBuyItem)
            .where(col(GroupBuyItem.group_buy_id) == group_buy_id, col(GroupBuyItem.product_id) == product_id)
            .values(delivered_quantity=units)
        )
    await _book_correction(session, group_buy, correction.id, plan.refunds, plan.supplier_cents, now)
    # The seller's marketing patronage follows the payable down, in the same transaction.
    sold = await patronage.sold_in_buy(session, group_buy_id)
    back = seller_give_back(None if sold is None else SellerPatronage(*sold), plan.supplier_cents)
    await _record_seller(session, group_buy_id, back, f"sale:correction:{correction.id}", now, fiscal_year_start_month)
    if group_buy.payment_mode == PaymentMode.CARD and plan.supplier_cents > 0:
        await supplier_transfers.request_reversal(session, group_buy, correction.id)  # if Connect paid it
    members = {
        o.id: o.member_id
        for o in (await session.exec(select(BuyOrder).where(col(BuyOrder.id).in_(sorted(plan.refunds))))).all()
    }
    member_rows = {
        m.id: m
        for m in (await session.exec(select(Member).where(col(Member.id).in_(sorted(set(members.values())))))).all()
    }
    await patronage.record_corrections(
        session,
        [
            patronage.Purchase(member_rows[members[key]], pool, cents, now, group_buy_id)
            for (key, pool), cents in sorted(plan.patronage.items())
        ],
        correction.id,
        fiscal_year_start_month=fiscal_year_start_month,
    )
    for order_id, cents in sorted(plan.refunds.items()):
        if group_buy.payment_mode == PaymentMode.CARD:
            await card_holds.request_refund(session, order_id, cents, correction.id)
        await notifications.record(
            session,
            event="order.corrected",
            audience=member_audience(members[order_id]),
            data={"group_buy_id": str(group_buy_id), "order_id": str(order_id), "refund_cents": cents},
            business_key=f"correction:{correction.id}:{order_id}",
        )
    return Correction(correction.id, group_buy_id, correction.reason, plan.refunds, now)


async def _book_correction(
    session: AsyncSession,
    group_buy: GroupBuy,
    correction_id: int,
    refunds: dict[int, int],
    supplier: int,
    now: datetime,
) -> None:
    """Reverse each charge difference on the trade account, and owe the supplier less; accounts locked in id order."""
    orders = (await session.exec(select(BuyOrder).where(col(BuyOrder.id).in_(sorted(refunds))))).all()
    trade = {o.id: await ledger.account_id(session, chart.member_trade(o.member_id)) for o in orders}
    sales = await ledger.account_id(session, chart.SALES)
    payable = await ledger.account_id(session, chart.supplier_payable(group_buy.supplier_id))
    cost = await ledger.account_id(session, chart.COST_OF_GOODS)
    await ledger.lock_accounts(session, [*trade.values(), sales, payable, cost])
    for order_id, cents in sorted(refunds.items()):
        await ledger.post_entry(
            session,
            kind="group_buy_correction",
            idempotency_key=f"correction:{correction_id}:{order_id}",
            occurred_at=now,
            lines=[PostingLine(sales, Side.DEBIT, cents), PostingLine(trade[order_id], Side.CREDIT, cents)],
            memo=f"correction {correction_id} of group buy {group_buy.id}"[:500],
        )
    if supplier:
        await ledger.post_entry(
            session,
            kind="supplier_payable_correction",
            idempotency_key=f"correction:{correction_id}:supplier",
            occurred_at=now,
            lines=[PostingLine(payable, Side.DEBIT, supplier), PostingLine(cost, Side.CREDIT, supplier)],
            memo=f"correction {correction_id} of group buy {group_buy.id}"[:500],
        )
