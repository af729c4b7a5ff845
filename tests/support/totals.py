"""A group buy's running totals as stored (summed over shards) and as the order lines re-sum them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from domain.buying.tables import GroupBuyTotal, OrderLine

Totals = dict[int, tuple[int, int]]


async def _per_product(s: Any, product: Any, quantity: Any, flex: Any, group_buy: Any, group_buy_id: int) -> Totals:
    rows = (
        await s.execute(
            sa.select(product, sa.func.sum(quantity), sa.func.sum(flex))
            .where(group_buy == group_buy_id)
            .group_by(product)
        )
    ).all()
    return {p: (int(q), int(f)) for p, q, f in rows}


async def stored_totals(s: Any, group_buy_id: int) -> Totals:
    """Product -> (quantity, flex) from the totals table, every shard added up."""
    t = GroupBuyTotal
    return await _per_product(
        s, col(t.product_id), col(t.quantity), col(t.flex_quantity), col(t.group_buy_id), group_buy_id
    )


async def resummed_totals(s: Any, group_buy_id: int) -> Totals:
    """Product -> (quantity, flex) re-summed from the buy's order lines."""
    line = OrderLine
    return await _per_product(
        s, col(line.product_id), col(line.quantity), col(line.flex_quantity), col(line.group_buy_id), group_buy_id
    )


def nonzero(totals: Totals) -> Totals:
    """The products something is ordered of."""
    return {p: qf for p, qf in totals.items() if qf != (0, 0)}
