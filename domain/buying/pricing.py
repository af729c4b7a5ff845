"""Price changes seen from group buys: a lower price reaches the open buys, a higher one never does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.buying.rules import GroupBuyStatus
from domain.buying.service import locked_group_buy
from domain.buying.tables import GroupBuy, GroupBuyItem
from domain.catalog import service as catalog
from domain.catalog.rules import no_dearer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.catalog.rules import Tier


async def change_prices(
    session: AsyncSession,
    product_id: int,
    *,
    tiers: Sequence[Tier],
    markup_rate: Decimal | None,
    actor: int,
    only_supplier_id: int | None = None,
) -> catalog.ProductView:
    """A new price version of the product, offered to the open buys it does not make dearer.

    Buys keep the prices they opened with: members were shown what their orders may cost
    (``max_total_cents``), so a rise waits for later buys. A version no dearer at any
    quantity, for the supplier's price and the member's, replaces the pinned one at once.
    The product's row lock (taken by catalog.change_prices) serializes price changes, and
    each buy is locked shared before its item moves, so a close sees one version or the other.
    """
    view = await catalog.change_prices(
        session, product_id, tiers=tiers, markup_rate=markup_rate, actor=actor, only_supplier_id=only_supplier_id
    )
    new = view.prices
    rows = (
        await session.exec(
            select(GroupBuyItem.group_buy_id, GroupBuyItem.price_version_id)
            .join(GroupBuy, col(GroupBuy.id) == col(GroupBuyItem.group_buy_id))
            .where(
                col(GroupBuyItem.product_id) == product_id,
                col(GroupBuy.status) == GroupBuyStatus.OPEN.value,
                col(GroupBuyItem.price_version_id) != new.version_id,
            )
            .order_by(col(GroupBuyItem.group_buy_id))
        )
    ).all()
    pinned = await catalog.versions_by_id(session, sorted({v for _, v in rows if v is not None}))
    for group_buy_id, version_id in rows:
        old = pinned.get(version_id or 0)
        if old is None or not no_dearer(old.tiers, old.markup_rate, new.tiers, new.markup_rate):
            continue
        group_buy = await locked_group_buy(session, group_buy_id, share=True)
        if group_buy.status != GroupBuyStatus.OPEN:
            continue
        await session.execute(
            sa.update(GroupBuyItem)
            .where(col(GroupBuyItem.group_buy_id) == group_buy_id, col(GroupBuyItem.product_id) == product_id)
            .values(price_version_id=new.version_id, markup_rate=new.markup_rate)
        )
    return view
