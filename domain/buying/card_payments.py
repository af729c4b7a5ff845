"""The card clock's steps: renew card holds before they lapse, drop orders whose member never confirmed.

Run by ``workers/payments.py`` every few minutes, one hold per unit of work. Each step
locks the buy (shared, as order writes do) and the order, then re-checks the hold under
those locks, so a rerun or a second worker does nothing twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.buying.orders import withdraw_with_notice
from domain.buying.rules import OrderStatus
from domain.buying.service import STAFF, locked_group_buy, member_audience
from domain.buying.tables import BuyOrder
from domain.notifications import service as notifications
from domain.payments import card_holds
from domain.payments.rules import CardStatus

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

# Orders whose card payment is still to be taken: open, or allocated and not yet settled.
AWAITING_PAYMENT = (OrderStatus.OPEN.value, OrderStatus.ALLOCATED.value)


async def due_renewals(session: AsyncSession, now: datetime) -> list[int]:
    """Holds to renew now: authorized, the newest of an order still awaiting payment, lapsing within the margin."""
    awaiting = sa.select(col(BuyOrder.id)).where(col(BuyOrder.status).in_(AWAITING_PAYMENT))
    return [h.id for h in await card_holds.due_for_renewal(session, now, awaiting) if h.id is not None]


async def _lock(session: AsyncSession, group_buy_id: int, order_id: int) -> BuyOrder:
    await locked_group_buy(session, group_buy_id, share=True)
    query = select(BuyOrder).where(col(BuyOrder.id) == order_id).with_for_update()
    return (await session.exec(query.execution_options(populate_existing=True))).one()


async def renew_if_due(session: AsyncSession, hold_id: int, *, now: datetime) -> bool:
    """Ask off-session for a new hold before this one lapses (the old one is cancelled once the new one holds)."""
    hold = await card_holds.hold_by_id(session, hold_id)
    order = await _lock(session, hold.group_buy_id, hold.order_id)
    newest = await card_holds.live_hold(session, hold.order_id)
    if order.status not in AWAITING_PAYMENT or newest is None or newest.id != hold_id:
        return False
    if newest.status != CardStatus.AUTHORIZED:
        return False
    await card_holds.renew(session, newest, now)
    return True


async def overdue_actions(session: AsyncSession, now: datetime) -> list[int]:
    """Off-session payments whose grace deadline passed."""
    return [h.id for h in await card_holds.overdue_actions(session, now) if h.id is not None]


async def drop_if_overdue(session: AsyncSession, hold_id: int, *, now: datetime) -> bool:
    """The member did not confirm in time: the order drops out, or, once ordered, staff are told the shortfall.

    An open order is withdrawn (the group's volume, and so the supplier's quantities, no
    longer count it before the purchase order is made). An order already in a purchase
    order stays: staff are told its card shortfall, and settlement charges its trade
    account as in account mode. A settled order's charge stays on its trade account.
    """
    hold = await card_holds.hold_by_id(session, hold_id)
    order = await _lock(session, hold.group_buy_id, hold.order_id)
    if await card_holds.give_up_action(session, hold_id, now) is None:
        return False  # finished (or replaced) meanwhile
    data = {"group_buy_id": str(hold.group_buy_id), "order_id": str(hold.order_id)}
    if order.status == OrderStatus.OPEN:
        reason = "the card needed your confirmation and the deadline passed"
        await withdraw_with_notice(session, hold.order_id, now=now, reason=reason, key="card_action_expired")
        return True
    await notifications.record(
        session,
        event="order.card_unpaid",
        audience=member_audience(order.member_id),
        data={**data, "amount_cents": hold.amount_cents, "charged_to": "trade_account"},
        business_key=f"order:{hold.order_id}:card_unpaid:{hold.version}",
    )
    if order.status == OrderStatus.ALLOCATED:
        await notifications.record(
            session,
            event="order.card_shortfall",
            audience=STAFF,
            data={**data, "member_id": str(order.member_id), "amount_cents": hold.amount_cents},
            business_key=f"order:{hold.order_id}:card_shortfall:{hold.version}",
        )
    return True
