"""Group buy use cases: create, order, progress, close, purchase order (DOMAIN.md section 2).

Delivery and settlement live in `settlement.py`, the clock (open, remind, close on time) in `clock.py`.

Locking, so that concurrent requests never lose an update or disagree with the totals:
- order changes lock the group buy row FOR SHARE (many at once), then their own order row
  FOR UPDATE, and check the buy is open under that lock;
- close, cancel and delivery lock the group buy row FOR UPDATE, which waits for every order
  change in flight and keeps new ones out until they commit;
- totals are always summed from the stored order lines, never kept as counters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.buying.rules import (
    ORDERING_STATUSES,
    AllocationPolicy,
    CloseAction,
    ClosePlan,
    Demand,
    GroupBuyStatus,
    Increment,
    LineRequest,
    MinimumOutcome,
    NextTier,
    OrderStatus,
    PaymentMode,
    ProductDemand,
    apply_change,
    line_total_cents,
    max_order_total_cents,
    order_line_errors,
    plan_close,
    product_progress,
)
from domain.buying.tables import ORDER_CHANGE_SEQ, BuyOrder, GroupBuy, GroupBuyItem, OrderIncrement, OrderLine
from domain.catalog import service as catalog
from domain.catalog.tables import Product, Supplier
from domain.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession


CLOSED = frozenset({GroupBuyStatus.ORDERED, GroupBuyStatus.DELIVERED, GroupBuyStatus.SETTLED})
CLOSING_SOON = timedelta(hours=24)
MEMBERS = "members"  # notification audience: every member
STAFF = "staff"  # notification audience: the co-op's staff


def member_audience(member_id: int) -> str:
    """Notifications for one member's users."""
    return f"member:{member_id}"


def supplier_audience(supplier_id: int) -> str:
    """Notifications for one supplier's users."""
    return f"supplier:{supplier_id}"


# --- views ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemView:
    """A product of a group buy: live progress while open, the final figures once closed."""

    product_id: int
    sku: str
    name: str
    unit: str
    case_size: int
    quantity: int
    flex_quantity: int
    cases: int
    missing_units: int
    unit_price_cents: int
    next_tier: NextTier | None
    bought_quantity: int | None
    delivered_quantity: int | None


@dataclass(frozen=True, slots=True)
class GroupBuyView:
    """A group buy and its items."""

    group_buy: GroupBuy
    items: list[ItemView]

    @property
    def supplier_value_cents(self) -> int:
        """The value at supplier prices: what closing now would order, or what was ordered."""
        if self.group_buy.supplier_value_cents is not None:
            return self.group_buy.supplier_value_cents
        return sum(i.cases * i.case_size * i.unit_price_cents for i in self.items)


@dataclass(frozen=True, slots=True)
class LineView:
    """One order line as the member sees it; outcome fields are None until known."""

    product_id: int
    quantity: int
    flex_quantity: int
    allocated_quantity: int | None
    delivered_quantity: int | None
    unit_price_cents: int | None
    total_cents: int | None


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order, its lines, the most it can cost, and its total once known."""

    order: BuyOrder
    lines: list[LineView]
    max_total_cents: int

    @property
    def total_cents(self) -> int | None:
        """The sum of the line totals once every line has one (after close), else None."""
        if self.order.status in {OrderStatus.OPEN, OrderStatus.CANCELLED} or not self.lines:
            return None
        totals = [line.total_cents for line in self.lines]
        return None if any(t is None for t in totals) else sum(t for t in totals if t is not None)


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine:
    """One product the supplier is asked for: whole cases at the frozen tier price."""

    product_id: int
    sku: str
    name: str
    case_size: int
    cases: int
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        """Units times the supplier's price."""
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True, slots=True)
class PurchaseOrder:
    """What the co-op orders from the supplier: totals only, never who ordered what."""

    group_buy: GroupBuy
    lines: list[PurchaseOrderLine]

    @property
    def total_cents(self) -> int:
        """The sum of the lines."""
        return sum(line.total_cents for line in self.lines)


# --- group buys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewGroupBuy:
    """A group buy as staff ask for it."""

    supplier_id: int
    title: str
    closes_at: datetime
    product_ids: tuple[int, ...]
    opens_at: datetime | None = None
    min_value_cents: int | None = None
    on_minimum_missed: MinimumOutcome = MinimumOutcome.CANCEL
    extend_hours: int = 24
    allocation_policy: AllocationPolicy = AllocationPolicy.PRO_RATA
    payment_mode: PaymentMode = PaymentMode.ACCOUNT


async def create_group_buy(
    session: AsyncSession, new: NewGroupBuy, *, now: datetime, actor: int, card_payments: bool = False
) -> GroupBuy:
    """Create a group buy for one supplier's products; open now unless it opens later.

    Card payments need the payment provider (a later issue), so ``card`` is refused with a
    400 until it is configured and supported.
    """
    opens_at = new.opens_at or now
    products = await catalog.products_by_id(session, new.product_ids)
    errors = _group_buy_errors(new, opens_at, now, products, card_payments=card_payments)
    if await session.get(Supplier, new.supplier_id) is None:
        errors.insert(0, FieldError("supplier_id", f"no supplier {new.supplier_id}"))
    if errors:
        raise InvalidInputError("the group buy is not valid", errors)
    status = GroupBuyStatus.OPEN if opens_at <= now else GroupBuyStatus.SCHEDULED
    group_buy = GroupBuy(
        supplier_id=new.supplier_id,
        title=new.title,
        status=status.value,
        opens_at=opens_at,
        closes_at=new.closes_at,
        min_value_cents=new.min_value_cents,
        on_minimum_missed=new.on_minimum_missed.value,
        extend_hours=new.extend_hours,
        allocation_policy=new.allocation_policy.value,
        payment_mode=new.payment_mode.value,
        created_by=actor,
    )
    session.add(group_buy)
    await session.flush()
    assert group_buy.id is not None  # noqa: S101 - flushed
    session.add_all(
        GroupBuyItem(
            group_buy_id=group_buy.id,
            product_id=product_id,
            position=i,
            case_size=products[product_id].case_size,
            pool=products[product_id].pool,
        )
        for i, product_id in enumerate(new.product_ids)
    )
    await session.flush()
    if status is GroupBuyStatus.OPEN:
        await notify_opened(session, group_buy)
    return group_buy


def _group_buy_errors(
    new: NewGroupBuy, opens_at: datetime, now: datetime, products: dict[int, Product], *, card_payments: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    if new.closes_at <= now:
        errors.append(FieldError("closes_at", "must be in the future"))
    if opens_at >= new.closes_at:
        errors.append(FieldError("opens_at", "must be before closes_at"))
    if new.payment_mode is PaymentMode.CARD:
        detail = "card payments are not available yet" if card_payments else "card payments are not configured"
        errors.append(FieldError("payment_mode", detail))
    seen: set[int] = set()
    for i, product_id in enumerate(new.product_ids):
        product = products.get(product_id)
        if product_id in seen:
            errors.append(FieldError(f"product_ids[{i}]", "the product appears more than once"))
        elif product is None:
            errors.append(FieldError(f"product_ids[{i}]", f"no product {product_id}"))
        elif product.supplier_id != new.supplier_id:
            errors.append(FieldError(f"product_ids[{i}]", "the product belongs to another supplier"))
        seen.add(product_id)
    return errors


async def notify_opened(session: AsyncSession, group_buy: GroupBuy) -> None:
    """Tell members a buy is open for orders (once per buy)."""
    await notifications.record(
        session,
        event="group_buy.opened",
        audience=MEMBERS,
        data={
            "group_buy_id": str(group_buy.id),
            "title": group_buy.title,
            "closes_at": group_buy.closes_at.isoformat(),
        },
        business_key=f"group_buy:{group_buy.id}:opened",
    )


async def visible_group_buy(session: AsyncSession, group_buy_id: int, only_supplier_id: int | None) -> GroupBuy:
    """The group buy, or 404 (also for another supplier's users)."""
    group_buy = await session.get(GroupBuy, group_buy_id)
    if group_buy is None or (only_supplier_id is not None and group_buy.supplier_id != only_supplier_id):
        raise NotFoundError(f"group buy {group_buy_id} not found")
    return group_buy


async def locked_group_buy(session: AsyncSession, group_buy_id: int, *, share: bool = False) -> GroupBuy:
    """The group buy's row locked FOR SHARE (order changes) or FOR UPDATE (state changes)."""
    query = (
        select(GroupBuy)
        .where(col(GroupBuy.id) == group_buy_id)
        .with_for_update(read=share)
        .execution_options(populate_existing=True)  # the row as locked, not as cached
    )
    group_buy = (await session.exec(query)).one_or_none()
    if group_buy is None:
        raise NotFoundError(f"group buy {group_buy_id} not found")
    return group_buy


async def get_group_buy(
    session: AsyncSession, group_buy_id: int, *, only_supplier_id: int | None = None
) -> GroupBuyView:
    """The group buy with its items (404 for a supplier's users asking about another supplier's)."""
    group_buy = await visible_group_buy(session, group_buy_id, only_supplier_id)
    return (await group_buy_views(session, [group_buy]))[0]


async def group_buy_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    status: GroupBuyStatus | None = None,
    only_supplier_id: int | None = None,
) -> list[GroupBuyView]:
    """Group buys in id order after a cursor, optionally in one status; a supplier sees only its own."""
    query = select(GroupBuy).where(col(GroupBuy.id) > after_id).order_by(col(GroupBuy.id)).limit(limit)
    if status is not None:
        query = query.where(col(GroupBuy.status) == status.value)
    if only_supplier_id is not None:
        query = query.where(col(GroupBuy.supplier_id) == only_supplier_id)
    return await group_buy_views(session, list((await session.exec(query)).all()))


async def _items(session: AsyncSession, group_buy_ids: Sequence[int]) -> dict[int, list[tuple[GroupBuyItem, Product]]]:
    rows = (
        await session.exec(
            select(GroupBuyItem, Product)
            .join(Product, col(Product.id) == col(GroupBuyItem.product_id))
            .where(col(GroupBuyItem.group_buy_id).in_(list(group_buy_ids)))
            .order_by(col(GroupBuyItem.group_buy_id), col(GroupBuyItem.position))
        )
    ).all()
    out: dict[int, list[tuple[GroupBuyItem, Product]]] = defaultdict(list)
    for item, product in rows:
        out[item.group_buy_id].append((item, product))
    return out


async def _live_totals(session: AsyncSession, group_buy_ids: Sequence[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """Q and F per (group buy, product), summed from the stored lines."""
    if not group_buy_ids:
        return {}
    rows = (
        await session.execute(
            sa.select(
                col(OrderLine.group_buy_id),
                col(OrderLine.product_id),
                sa.func.sum(col(OrderLine.quantity)),
                sa.func.sum(col(OrderLine.flex_quantity)),
            )
            .where(col(OrderLine.group_buy_id).in_(list(group_buy_ids)))
            .group_by(col(OrderLine.group_buy_id), col(OrderLine.product_id))
        )
    ).all()
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}


async def group_buy_views(session: AsyncSession, group_buys: Sequence[GroupBuy]) -> list[GroupBuyView]:
    """Views of several group buys in a handful of queries."""
    ids = [g.id for g in group_buys if g.id is not None]
    items = await _items(session, ids)
    live_ids = [g.id for g in group_buys if g.id is not None and any(i.bought_quantity is None for i, _ in items[g.id])]
    totals = await _live_totals(session, live_ids)
    prices = await catalog.prices_of(
        session, sorted({i.product_id for gid in live_ids for i, _ in items[gid] if i.bought_quantity is None})
    )
    views = []
    for group_buy in group_buys:
        assert group_buy.id is not None  # noqa: S101 - loaded rows
        out = []
        for item, product in items[group_buy.id]:
            if item.bought_quantity is None:
                q, f = totals.get((group_buy.id, item.product_id), (0, 0))
                progress = product_progress(q, f, item.case_size, prices[item.product_id].tiers)
                out.append(
                    ItemView(
                        item.product_id,
                        product.sku,
                        product.name,
                        product.unit,
                        item.case_size,
                        progress.quantity,
                        progress.flex_quantity,
                        progress.cases,
                        progress.missing_units,
                        progress.unit_price_cents,
                        progress.next_tier,
                        None,
                        None,
                    )
                )
            else:
                out.append(_frozen_item(item, product))
        views.append(GroupBuyView(group_buy, out))
    return views


def _frozen_item(item: GroupBuyItem, product: Product) -> ItemView:
    q, f = item.quantity or 0, item.flex_quantity or 0
    rest = q % item.case_size
    return ItemView(
        item.product_id,
        product.sku,
        product.name,
        product.unit,
        item.case_size,
        q,
        f,
        item.cases or 0,
        0 if rest == 0 else max(item.case_size - rest - f, 0),
        item.unit_price_cents or 0,
        None,
        item.bought_quantity,
        item.delivered_quantity,
    )


# --- orders ---------------------------------------------------------------------------


async def _next_seq(session: AsyncSession) -> int:
    return int((await session.execute(sa.select(ORDER_CHANGE_SEQ.next_value()))).scalar_one())


async def _offered(session: AsyncSession, group_buy_id: int) -> set[int]:
    rows = await session.exec(select(GroupBuyItem.product_id).where(col(GroupBuyItem.group_buy_id) == group_buy_id))
    return set(rows.all())


def _require_open(group_buy: GroupBuy) -> None:
    if group_buy.status != GroupBuyStatus.OPEN:
        raise ConflictError(f"group buy {group_buy.id} is {group_buy.status}; orders change only while it is open")


async def _check_lines(session: AsyncSession, group_buy_id: int, lines: Sequence[LineRequest]) -> None:
    if errors := order_line_errors(lines, await _offered(session, group_buy_id)):
        raise InvalidInputError("the order lines are not valid", errors)


async def place_order(
    session: AsyncSession,
    group_buy_id: int,
    *,
    member_id: int,
    lines: Sequence[LineRequest],
    now: datetime,
    actor: int,
) -> OrderView:
    """A member's one order in an open group buy; a second one is a 409 naming the first."""
    group_buy = await locked_group_buy(session, group_buy_id, share=True)
    _require_open(group_buy)
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFoundError(f"member {member_id} not found")
    if Status(member.status) not in ORDERING_STATUSES:
        allowed = ", ".join(sorted(ORDERING_STATUSES))
        raise ConflictError(f"member {member_id} is {member.status}; only {allowed} members may order")
    await _check_lines(session, group_buy_id, lines)
    seq = await _next_seq(session)
    order_id = (
        await session.execute(
            insert(BuyOrder)
            .values(
                group_buy_id=group_buy_id,
                member_id=member_id,
                status=OrderStatus.OPEN.value,
                placed_seq=seq,
                placed_by=actor,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(constraint="uq_buy_order_group_buy_member")
            .returning(col(BuyOrder.id))
        )
    ).scalar_one_or_none()
    if order_id is None:
        existing = (
            await session.exec(
                select(BuyOrder.id).where(
                    col(BuyOrder.group_buy_id) == group_buy_id, col(BuyOrder.member_id) == member_id
                )
            )
        ).one()
        raise ConflictError(f"member {member_id} already has order {existing} in this group buy; change it instead")
    await _write_lines(session, order_id, group_buy_id, lines, seq, now)
    return await get_order(session, order_id)


async def _locked_order(session: AsyncSession, order_id: int, only_member_id: int | None) -> tuple[GroupBuy, BuyOrder]:
    """Lock the group buy FOR SHARE, then the order FOR UPDATE (always in this order)."""
    group_buy_id = (await session.exec(select(BuyOrder.group_buy_id).where(col(BuyOrder.id) == order_id))).one_or_none()
    if group_buy_id is None:
        raise NotFoundError(f"order {order_id} not found")
    group_buy = await locked_group_buy(session, group_buy_id, share=True)
    order = (
        await session.exec(
            select(BuyOrder)
            .where(col(BuyOrder.id) == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if only_member_id is not None and order.member_id != only_member_id:
        raise NotFoundError(f"order {order_id} not found")
    return group_buy, order


async def change_order(
    session: AsyncSession,
    order_id: int,
    *,
    lines: Sequence[LineRequest],
    now: datetime,
    only_member_id: int | None = None,
) -> OrderView:
    """Replace the order's lines while the buy is open (products left out go to zero).

    Each changed line records the change as increments: an increase joins the back of the
    queue, a decrease is taken from the newest units first. A cancelled order comes back.
    """
    group_buy, order = await _locked_order(session, order_id, only_member_id)
    _require_open(group_buy)
    await _check_lines(session, group_buy.id or 0, lines)
    seq = await _next_seq(session)
    if order.status == OrderStatus.CANCELLED:
        order.status = OrderStatus.OPEN.value
        order.placed_seq = seq
    order.updated_at = now
    session.add(order)
    await _write_lines(session, order_id, order.group_buy_id, lines, seq, now)
    return await get_order(session, order_id)


async def cancel_order(
    session: AsyncSession, order_id: int, *, now: datetime, only_member_id: int | None = None
) -> OrderView:
    """Withdraw the order while the buy is open: its lines go; the order stays, cancelled."""
    group_buy, order = await _locked_order(session, order_id, only_member_id)
    _require_open(group_buy)
    if order.status != OrderStatus.CANCELLED:
        line_ids = sa.select(col(OrderLine.id)).where(col(OrderLine.order_id) == order_id)
        await session.execute(sa.delete(OrderIncrement).where(col(OrderIncrement.order_line_id).in_(line_ids)))
        await session.execute(sa.delete(OrderLine).where(col(OrderLine.order_id) == order_id))
        order.status = OrderStatus.CANCELLED.value
        order.updated_at = now
        session.add(order)
        await session.flush()
    return await get_order(session, order_id)


async def _increments(session: AsyncSession, line_ids: Sequence[int]) -> dict[int, list[OrderIncrement]]:
    if not line_ids:
        return {}
    rows = (
        await session.exec(
            select(OrderIncrement)
            .where(col(OrderIncrement.order_line_id).in_(list(line_ids)))
            .order_by(col(OrderIncrement.order_line_id), col(OrderIncrement.at_seq))
        )
    ).all()
    out: dict[int, list[OrderIncrement]] = defaultdict(list)
    for inc in rows:
        out[inc.order_line_id].append(inc)
    return out


async def _write_lines(
    session: AsyncSession, order_id: int, group_buy_id: int, lines: Sequence[LineRequest], seq: int, now: datetime
) -> None:
    """Bring the stored lines and increments to ``lines`` with rules.apply_change, in a few set statements.

    The caller holds the order's row lock, so nothing else writes these lines meanwhile.
    """
    existing = {
        line.product_id: line
        for line in (await session.exec(select(OrderLine).where(col(OrderLine.order_id) == order_id))).all()
    }
    stored = await _increments(session, [line.id for line in existing.values() if line.id is not None])
    wanted = {line.product_id: line for line in lines}
    changed: dict[int, tuple[LineRequest, tuple[Increment, ...], dict[int, datetime]]] = {}
    for product_id in sorted(set(existing) | set(wanted)):
        request = wanted.get(product_id, LineRequest(product_id, 0, 0))
        line = existing.get(product_id)
        if line is not None and (line.quantity, line.flex_quantity) == (request.quantity, request.flex):
            continue
        old = stored.get(line.id or 0, []) if line is not None else []
        new = apply_change(
            [Increment(inc.at_seq, inc.quantity, inc.flex_quantity) for inc in old], request.quantity, request.flex, seq
        )
        changed[product_id] = (request, new, {inc.at_seq: inc.created_at for inc in old})
    if not changed:
        return
    touched = [existing[p].id for p in changed if p in existing]
    if touched:
        await session.execute(sa.delete(OrderIncrement).where(col(OrderIncrement.order_line_id).in_(touched)))
    emptied = [existing[p].id for p, (_, new, _) in changed.items() if not new and p in existing]
    if emptied:
        await session.execute(sa.delete(OrderLine).where(col(OrderLine.id).in_(emptied)))
    kept = {p: change for p, change in changed.items() if change[1]}
    line_ids = {p: existing[p].id or 0 for p in kept if p in existing}
    if line_ids:
        await session.execute(
            sa.update(OrderLine),
            [{"id": line_ids[p], "quantity": kept[p][0].quantity, "flex_quantity": kept[p][0].flex} for p in line_ids],
        )
    added = [p for p in kept if p not in existing]
    if added:
        rows = await session.execute(
            sa.insert(OrderLine)
            .values(
                [
                    {
                        "order_id": order_id,
                        "group_buy_id": group_buy_id,
                        "product_id": p,
                        "quantity": kept[p][0].quantity,
                        "flex_quantity": kept[p][0].flex,
                    }
                    for p in added
                ]
            )
            .returning(col(OrderLine.product_id), col(OrderLine.id))
        )
        line_ids |= {row.product_id: row.id for row in rows.all()}
    increments = [
        {
            "order_line_id": line_ids[p],
            "at_seq": inc.at_seq,
            "quantity": inc.quantity,
            "flex_quantity": inc.flex,
            "created_at": created.get(inc.at_seq, now),
        }
        for p, (_, new, created) in kept.items()
        for inc in new
    ]
    if increments:
        await session.execute(sa.insert(OrderIncrement).values(increments))
    for line in existing.values():  # changed behind the ORM's back: reload on next use
        session.expunge(line)


async def get_order(session: AsyncSession, order_id: int, *, only_member_id: int | None = None) -> OrderView:
    """The order (404 for another member's users)."""
    order = await session.get(BuyOrder, order_id)
    if order is None or (only_member_id is not None and order.member_id != only_member_id):
        raise NotFoundError(f"order {order_id} not found")
    return (await order_views(session, [order]))[0]


async def order_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    group_buy_id: int | None = None,
    only_member_id: int | None = None,
) -> list[OrderView]:
    """Orders in id order after a cursor: of one group buy, of one member, or both."""
    query = select(BuyOrder).where(col(BuyOrder.id) > after_id).order_by(col(BuyOrder.id)).limit(limit)
    if group_buy_id is not None:
        query = query.where(col(BuyOrder.group_buy_id) == group_buy_id)
    if only_member_id is not None:
        query = query.where(col(BuyOrder.member_id) == only_member_id)
    return await order_views(session, list((await session.exec(query)).all()))


async def group_buy_orders(session: AsyncSession, group_buy_id: int, *, after_id: int, limit: int) -> list[OrderView]:
    """The orders of one group buy (staff)."""
    await visible_group_buy(session, group_buy_id, None)
    return await order_page(session, after_id=after_id, limit=limit, group_buy_id=group_buy_id)


async def _item_prices(session: AsyncSession, items: Iterable[GroupBuyItem]) -> dict[tuple[int, int], catalog.Prices]:
    """Prices per (group buy, product): the version frozen at close, else the current one."""
    items = list(items)
    frozen = await catalog.versions_by_id(session, sorted({i.price_version_id for i in items if i.price_version_id}))
    current = await catalog.prices_of(session, sorted({i.product_id for i in items if not i.price_version_id}))
    return {
        (i.group_buy_id, i.product_id): frozen[i.price_version_id] if i.price_version_id else current[i.product_id]
        for i in items
    }


async def order_views(session: AsyncSession, orders: Sequence[BuyOrder]) -> list[OrderView]:
    """Views of several orders in a handful of queries."""
    ids = [o.id for o in orders if o.id is not None]
    if not ids:
        return []
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    for line in (
        await session.exec(
            select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.product_id))
        )
    ).all():
        lines[line.order_id].append(line)
    items = (
        await session.exec(
            select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id).in_(sorted({o.group_buy_id for o in orders})))
        )
    ).all()
    prices = await _item_prices(session, items)
    views = []
    for order in orders:
        assert order.id is not None  # noqa: S101 - loaded rows
        max_total = 0
        for line in lines[order.id]:
            price = prices[order.group_buy_id, line.product_id]
            max_total += max_order_total_cents(line.quantity + line.flex_quantity, price.tiers, price.markup_rate)
        views.append(
            OrderView(
                order,
                [
                    LineView(
                        line.product_id,
                        line.quantity,
                        line.flex_quantity,
                        line.allocated_quantity,
                        line.delivered_quantity,
                        line.unit_price_cents,
                        line.total_cents,
                    )
                    for line in lines[order.id]
                ],
                max_total,
            )
        )
    return views


# --- close ----------------------------------------------------------------------------


async def _plan(session: AsyncSession, group_buy: GroupBuy, *, frozen: bool = False) -> ClosePlan:
    """Run the pure close rules on the stored lines (increments in time order, orders by first order)."""
    assert group_buy.id is not None  # noqa: S101 - loaded rows
    items = list(
        (
            await session.exec(
                select(GroupBuyItem)
                .where(col(GroupBuyItem.group_buy_id) == group_buy.id)
                .order_by(col(GroupBuyItem.position))
            )
        ).all()
    )
    if frozen:
        versions = await catalog.versions_by_id(session, [i.price_version_id for i in items if i.price_version_id])
        tiers = {i.product_id: versions[i.price_version_id].tiers for i in items if i.price_version_id}
    else:
        current = await catalog.prices_of(session, [i.product_id for i in items])
        tiers = {i.product_id: current[i.product_id].tiers for i in items}
    demands = await demands_of(session, group_buy.id)
    products = [
        ProductDemand(item.product_id, item.case_size, tiers[item.product_id], tuple(demands.get(item.product_id, ())))
        for item in items
    ]
    return plan_close(
        products,
        AllocationPolicy(group_buy.allocation_policy),
        group_buy.min_value_cents,
        MinimumOutcome(group_buy.on_minimum_missed),
        already_extended=group_buy.extended,
    )


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


async def _freeze(session: AsyncSession, group_buy: GroupBuy, plan: ClosePlan, *, prices: bool) -> None:
    """Write the close figures on the items; with ``prices``, also freeze the current price versions."""
    current = await catalog.prices_of(session, [p.product_id for p in plan.products]) if prices else {}
    for outcome in plan.products:
        values: dict[str, object] = {
            "quantity": outcome.quantity,
            "flex_quantity": outcome.flex,
            "cases": outcome.cases,
            "bought_quantity": outcome.bought,
            "unit_price_cents": outcome.unit_price_cents,
        }
        if prices:
            version = current[outcome.product_id]
            values |= {"price_version_id": version.version_id, "markup_rate": version.markup_rate}
        await session.execute(
            sa.update(GroupBuyItem)
            .where(col(GroupBuyItem.group_buy_id) == group_buy.id, col(GroupBuyItem.product_id) == outcome.product_id)
            .values(**values)
        )
    group_buy.supplier_value_cents = plan.supplier_value_cents
    group_buy.minimum_met = plan.decision.minimum_met


async def close_group_buy(session: AsyncSession, group_buy_id: int, *, now: datetime) -> GroupBuyView:
    """Close an open buy now (staff, or the clock at the deadline); safe to run twice.

    Applies the minimum outcome: order (allocate at the bulk tier and freeze prices), cancel,
    extend once, or hold for staff (status ``closing``). A buy already closed is returned as
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
    """Close a locked, open buy: apply the close rules and the minimum outcome."""
    plan = await _plan(session, group_buy)
    match plan.decision.action:
        case CloseAction.EXTEND:
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
            await _freeze(session, group_buy, plan, prices=True)
            group_buy.status = GroupBuyStatus.CLOSING.value
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
            await _freeze(session, group_buy, plan, prices=True)
            group_buy.closed_at = now
            await _cancel(session, group_buy, now, plan.reason)
        case CloseAction.ORDER:
            await _freeze(session, group_buy, plan, prices=True)
            group_buy.closed_at = now
            await _order(session, group_buy, plan, now)
    session.add(group_buy)
    await session.flush()


async def _cancel(session: AsyncSession, group_buy: GroupBuy, now: datetime, reason: str) -> None:
    group_buy.status = GroupBuyStatus.CANCELLED.value
    group_buy.held = False
    group_buy.cancelled_at = now
    group_buy.status_reason = reason
    members = (
        await session.execute(
            sa.update(BuyOrder)
            .where(col(BuyOrder.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.OPEN.value)
            .values(status=OrderStatus.CANCELLED.value, updated_at=now)
            .returning(col(BuyOrder.id), col(BuyOrder.member_id))
        )
    ).all()
    for order_id, member_id in sorted(members):
        await notifications.record(
            session,
            event="group_buy.cancelled",
            audience=member_audience(member_id),
            data={"group_buy_id": str(group_buy.id), "order_id": str(order_id), "reason": reason},
            business_key=f"group_buy:{group_buy.id}:cancelled:{order_id}",
        )


async def _order(session: AsyncSession, group_buy: GroupBuy, plan: ClosePlan, now: datetime) -> None:
    """Allocate every line at the frozen tier price and markup, and tell members and the supplier."""
    markups = dict(
        (
            await session.execute(
                sa.select(col(GroupBuyItem.product_id), col(GroupBuyItem.markup_rate)).where(
                    col(GroupBuyItem.group_buy_id) == group_buy.id
                )
            )
        ).all()
    )
    rows = (
        await session.execute(
            sa.select(col(OrderLine.id), col(OrderLine.order_id), col(OrderLine.product_id))
            .join(BuyOrder, col(BuyOrder.id) == col(OrderLine.order_id))
            .where(col(OrderLine.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.OPEN.value)
        )
    ).all()
    outcomes = {o.product_id: o for o in plan.products}
    updates = []
    totals: dict[int, int] = defaultdict(int)
    for line_id, order_id, product_id in rows:
        outcome = outcomes[product_id]
        units = outcome.allocations[order_id]
        total = line_total_cents(units, outcome.unit_price_cents, markups[product_id])
        totals[order_id] += total
        updates.append(
            {
                "id": line_id,
                "allocated_quantity": units,
                "unit_price_cents": outcome.unit_price_cents,
                "total_cents": total,
            }
        )
    if updates:  # ORM bulk UPDATE by primary key: one executemany
        await session.execute(sa.update(OrderLine), updates)
    members = (
        await session.execute(
            sa.update(BuyOrder)
            .where(col(BuyOrder.group_buy_id) == group_buy.id, col(BuyOrder.status) == OrderStatus.OPEN.value)
            .values(status=OrderStatus.ALLOCATED.value, updated_at=now)
            .returning(col(BuyOrder.id), col(BuyOrder.member_id))
        )
    ).all()
    group_buy.status = GroupBuyStatus.ORDERED.value
    group_buy.held = False
    for order_id, member_id in sorted(members):
        await notifications.record(
            session,
            event="order.allocated",
            audience=member_audience(member_id),
            data={"group_buy_id": str(group_buy.id), "order_id": str(order_id), "total_cents": totals[order_id]},
            business_key=f"group_buy:{group_buy.id}:allocated:{order_id}",
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
    if group_buy.status != GroupBuyStatus.CLOSING or not group_buy.held:
        if GroupBuyStatus(group_buy.status) in CLOSED:
            return await get_group_buy(session, group_buy_id)
        raise ConflictError(f"group buy {group_buy_id} is {group_buy.status}, not held for a decision")
    plan = await _plan(session, group_buy, frozen=True)
    if plan.decision.action is CloseAction.CANCEL and plan.reason == "no case was filled":
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
    if status in CLOSED:
        raise ConflictError(f"group buy {group_buy_id} is {status}; it can no longer be cancelled")
    if status is GroupBuyStatus.OPEN:
        await _freeze(session, group_buy, await _plan(session, group_buy), prices=True)
        group_buy.closed_at = now
    await _cancel(session, group_buy, now, reason)
    session.add(group_buy)
    await session.flush()
    return await get_group_buy(session, group_buy_id)


async def purchase_order(
    session: AsyncSession, group_buy_id: int, *, only_supplier_id: int | None = None
) -> PurchaseOrder:
    """The supplier's order once the buy is ordered: whole cases per product, no member identities."""
    group_buy = await visible_group_buy(session, group_buy_id, only_supplier_id)
    if GroupBuyStatus(group_buy.status) not in CLOSED:
        raise ConflictError(f"group buy {group_buy_id} is {group_buy.status}; it has no purchase order yet")
    items = (await _items(session, [group_buy_id]))[group_buy_id]
    lines = [
        PurchaseOrderLine(
            item.product_id,
            product.sku,
            product.name,
            item.case_size,
            item.cases or 0,
            item.bought_quantity or 0,
            item.unit_price_cents or 0,
        )
        for item, product in items
        if item.cases
    ]
    return PurchaseOrder(group_buy, lines)
