"""Orders in a group buy: place, change (as time-stamped increments), cancel, and read them.

Every order write locks, always in this order: the member's row FOR SHARE (its standing
cannot change under the write), the group buy shared (see service.locked_group_buy), then
the order FOR UPDATE. A member leaving takes the same order (member, buy, order), so the
two never deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.buying.rules import (
    GroupBuyStatus,
    Increment,
    LineRequest,
    OrderStatus,
    OrderWrite,
    PaymentMode,
    apply_change,
    check_order_transition,
    deadline_refusal,
    max_order_total_cents,
    member_unit_price_cents,
    order_line_errors,
    standing_refusal,
)
from domain.buying.service import item_prices, locked_group_buy, member_audience, visible_group_buy
from domain.buying.tables import ORDER_CHANGE_SEQ, BuyOrder, GroupBuy, GroupBuyItem, OrderIncrement, OrderLine
from domain.catalog.rules import tier_for
from domain.db import utc_now
from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.notifications import service as notifications
from domain.payments import card_holds
from domain.payments.rules import CardStatus

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.catalog import service as catalog
    from domain.payments.views import CardPaymentView


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
    markup_rate: Decimal
    member_unit_price_cents: int


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order, its lines, the most it can cost, and its total once known."""

    order: BuyOrder
    lines: list[LineView]
    max_total_cents: int
    payment: CardPaymentView | None = None  # the newest card hold, in a card-mode buy

    @property
    def total_cents(self) -> int | None:
        """The sum of the line totals once every line has one (after close), else None."""
        if self.order.status in {OrderStatus.OPEN, OrderStatus.CANCELLED} or not self.lines:
            return None
        totals = [line.total_cents for line in self.lines]
        return None if any(t is None for t in totals) else sum(t for t in totals if t is not None)


async def _next_seq(session: AsyncSession) -> int:
    return int((await session.execute(sa.select(ORDER_CHANGE_SEQ.next_value()))).scalar_one())


async def _offered(session: AsyncSession, group_buy_id: int) -> set[int]:
    rows = await session.exec(select(GroupBuyItem.product_id).where(col(GroupBuyItem.group_buy_id) == group_buy_id))
    return set(rows.all())


NOT_OPEN = "group_buy_not_open"
DEADLINE_PASSED = "order_deadline_passed"
NOT_IN_GOOD_STANDING = "member_not_in_good_standing"


def _require_open(group_buy: GroupBuy, now: datetime) -> datetime:
    """Refuse unless the locked buy is open and its deadline not reached; the moment the write is taken.

    The clock is read again here, after the locks: a write that waited for them must not
    slip in past ``closes_at`` on the time it arrived with.
    """
    if group_buy.status != GroupBuyStatus.OPEN:
        msg = f"group buy {group_buy.id} is {group_buy.status}; orders change only while it is open"
        raise ConflictError(msg, code=NOT_OPEN)
    taken_at = max(now, utc_now())
    if reason := deadline_refusal(group_buy.closes_at, taken_at):
        raise ConflictError(f"group buy {group_buy.id}: {reason}", code=DEADLINE_PASSED)
    return taken_at


async def _member_in_standing(session: AsyncSession, member_id: int, write: OrderWrite) -> None:
    """Lock the member's row FOR SHARE and refuse a write its standing does not allow (409)."""
    status = (
        await session.exec(select(Member.status).where(col(Member.id) == member_id).with_for_update(read=True))
    ).one_or_none()
    if status is None:
        raise NotFoundError(f"member {member_id} not found")
    if reason := standing_refusal(Status(status), write):
        raise ConflictError(f"member {member_id}: {reason}", code=NOT_IN_GOOD_STANDING)


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
    await _member_in_standing(session, member_id, OrderWrite.PLACE)
    group_buy = await locked_group_buy(session, group_buy_id, share=True)
    now = _require_open(group_buy, now)
    await _check_lines(session, group_buy_id, lines)
    if group_buy.payment_mode == PaymentMode.CARD:
        await card_holds.require_card_customer(session, member_id)
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
    return await _with_card_hold(session, group_buy, await get_order(session, order_id), now)


async def _with_card_hold(session: AsyncSession, group_buy: GroupBuy, view: OrderView, now: datetime) -> OrderView:
    """In a card-mode buy, the order's hold follows its most: a new one when that changed (a job asks Stripe)."""
    if group_buy.payment_mode != PaymentMode.CARD:
        return view
    order_id = view.order.id or 0
    live = await card_holds.live_hold(session, order_id)
    if live is not None and live.amount_cents == view.max_total_cents and live.status != CardStatus.AUTH_FAILED:
        return view  # the same most: the hold asked for still covers it
    hold = await card_holds.request_hold(
        session,
        order_id=order_id,
        group_buy_id=view.order.group_buy_id,
        member_id=view.order.member_id,
        amount_cents=view.max_total_cents,
        now=now,
    )
    return replace(view, payment=hold)


async def _locked_order(
    session: AsyncSession, order_id: int, only_member_id: int | None, write: OrderWrite
) -> tuple[GroupBuy, BuyOrder]:
    """Lock the member (checking its standing), the group buy (shared), then the order FOR UPDATE.

    An order's buy and member never change, so reading them before the locks is safe.
    """
    owner = (
        await session.exec(
            select(BuyOrder.group_buy_id, BuyOrder.member_id, BuyOrder.status).where(col(BuyOrder.id) == order_id)
        )
    ).one_or_none()
    if owner is None or (only_member_id is not None and owner[1] != only_member_id):
        raise NotFoundError(f"order {order_id} not found")
    group_buy_id, member_id, status = owner
    if write is OrderWrite.CHANGE and status == OrderStatus.CANCELLED:
        write = OrderWrite.REOPEN  # the same standing as a change; named for the refusal
    await _member_in_standing(session, member_id, write)
    group_buy = await locked_group_buy(session, group_buy_id, share=True)
    order = await _order_for_update(session, order_id)
    if only_member_id is not None and order.member_id != only_member_id:
        raise NotFoundError(f"order {order_id} not found")
    return group_buy, order


async def _order_for_update(session: AsyncSession, order_id: int) -> BuyOrder:
    """The order row locked FOR UPDATE, read fresh (not from the session's identity map)."""
    return (
        await session.exec(
            select(BuyOrder)
            .where(col(BuyOrder.id) == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()


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
    group_buy, order = await _locked_order(session, order_id, only_member_id, OrderWrite.CHANGE)
    now = _require_open(group_buy, now)
    await _check_lines(session, group_buy.id or 0, lines)
    if group_buy.payment_mode == PaymentMode.CARD:
        await card_holds.require_card_customer(session, order.member_id)
    seq = await _next_seq(session)
    if order.status == OrderStatus.CANCELLED:
        check_order_transition(order.status, OrderStatus.OPEN, order_id=order.id)
        order.status = OrderStatus.OPEN.value
        order.placed_seq = seq
    order.updated_at = now
    session.add(order)
    await _write_lines(session, order_id, order.group_buy_id, lines, seq, now)
    return await _with_card_hold(session, group_buy, await get_order(session, order_id), now)


async def cancel_order(
    session: AsyncSession, order_id: int, *, now: datetime, only_member_id: int | None = None
) -> OrderView:
    """Withdraw the order while the buy is open: its lines go; the order stays, cancelled."""
    group_buy, order = await _locked_order(session, order_id, only_member_id, OrderWrite.CANCEL)
    now = _require_open(group_buy, now)
    if order.status != OrderStatus.CANCELLED:
        await withdraw(session, order, now)
    return await get_order(session, order_id)


async def withdraw(session: AsyncSession, order: BuyOrder, now: datetime) -> None:
    """Cancel a locked order: its lines and increments go; the order stays, cancelled."""
    check_order_transition(order.status, OrderStatus.CANCELLED, order_id=order.id)
    line_ids = sa.select(col(OrderLine.id)).where(col(OrderLine.order_id) == order.id)
    await session.execute(sa.delete(OrderIncrement).where(col(OrderIncrement.order_line_id).in_(line_ids)))
    await session.execute(sa.delete(OrderLine).where(col(OrderLine.order_id) == order.id))
    order.status = OrderStatus.CANCELLED.value
    order.updated_at = now
    session.add(order)
    await session.flush()
    await card_holds.void_holds(session, order.id or 0, now)


async def withdraw_with_notice(session: AsyncSession, order_id: int, *, now: datetime, reason: str, key: str) -> bool:
    """Lock the order and, if it is still open, withdraw it and tell its member why (outbox).

    False when the order was no longer open. The caller holds the buy's lock (shared).
    """
    order = await _order_for_update(session, order_id)
    if order.status != OrderStatus.OPEN:
        return False
    await withdraw(session, order, now)
    await notifications.record(
        session,
        event="order.cancelled",
        audience=member_audience(order.member_id),
        data={"group_buy_id": str(order.group_buy_id), "order_id": str(order_id), "reason": reason},
        business_key=f"order:{order_id}:{key}",
    )
    return True


async def cancel_orders_of_leaving_member(session: AsyncSession, member_id: int, *, now: datetime) -> list[int]:
    """A member leaves (expelled, or its withdrawal takes effect): its open orders in open buys go.

    The caller holds the member's row FOR UPDATE, so no order write of this member is in
    flight or can start. Orders in buys already closed stay: they were placed in good
    standing and the goods are bought. Each cancelled order's member is told (outbox).
    """
    candidates = (
        await session.exec(
            select(BuyOrder.id, BuyOrder.group_buy_id)
            .join(GroupBuy, col(GroupBuy.id) == col(BuyOrder.group_buy_id))
            .where(
                col(BuyOrder.member_id) == member_id,
                col(BuyOrder.status) == OrderStatus.OPEN.value,
                col(GroupBuy.status) == GroupBuyStatus.OPEN.value,
            )
            .order_by(col(BuyOrder.group_buy_id))
        )
    ).all()
    cancelled = []
    for order_id, group_buy_id in candidates:
        group_buy = await locked_group_buy(session, group_buy_id, share=True)
        if group_buy.status != GroupBuyStatus.OPEN:  # closed meanwhile: the order was allocated
            continue
        if await withdraw_with_notice(
            session, order_id or 0, now=now, reason="the member left the co-op", key="member_left"
        ):
            cancelled.append(order_id or 0)
    return cancelled


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
    status: OrderStatus | None = None,
) -> list[OrderView]:
    """Orders in id order after a cursor: of one group buy, of one member, in one status, or any of these."""
    query = select(BuyOrder).where(col(BuyOrder.id) > after_id).order_by(col(BuyOrder.id)).limit(limit)
    if status is not None:
        query = query.where(col(BuyOrder.status) == status.value)
    if group_buy_id is not None:
        query = query.where(col(BuyOrder.group_buy_id) == group_buy_id)
    if only_member_id is not None:
        query = query.where(col(BuyOrder.member_id) == only_member_id)
    return await order_views(session, list((await session.exec(query)).all()))


async def group_buy_orders(session: AsyncSession, group_buy_id: int, *, after_id: int, limit: int) -> list[OrderView]:
    """The orders of one group buy (staff)."""
    await visible_group_buy(session, group_buy_id, None)
    return await order_page(session, after_id=after_id, limit=limit, group_buy_id=group_buy_id)


def _member_unit_price(line: OrderLine, price: catalog.Prices) -> int:
    """The tier price fixed at close with markup; before close the first (dearest) tier's, as ``max_total_cents``."""
    unit = line.unit_price_cents if line.unit_price_cents is not None else tier_for(price.tiers, 0).unit_price_cents
    return member_unit_price_cents(unit, price.markup_rate)


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
    prices = await item_prices(session, items)
    payments = await card_holds.payments_of(session, ids)
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
                        prices[order.group_buy_id, line.product_id].markup_rate,
                        _member_unit_price(line, prices[order.group_buy_id, line.product_id]),
                    )
                    for line in lines[order.id]
                ],
                max_total,
                payments.get(order.id),
            )
        )
    return views
