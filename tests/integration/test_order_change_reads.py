"""What the SQL order change reads of order_increment: a decreased line's increments by its index, never the table.

Not a timing: the scans PostgreSQL counts for the test's own transaction. While the table has
no statistics (a database just loaded, before autovacuum's first ANALYZE) the change once
hashed the changed lines and read every increment of every order, twice (migration 0040).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.membership import service as membership
from tests.support.buying import make_product, make_supplier
from tests.support.users import make_member

OTHER_INCREMENTS = 5000  # another order's, enough pages that the planner would rather scan them than look them up

SCANS = sa.text("SELECT seq_scan, seq_tup_read FROM pg_stat_xact_user_tables WHERE relid = 'order_increment'::regclass")


async def _member_with_order(session, buy_id: int, products: list[int], name: str, amount: int) -> int:
    now = datetime.now(UTC)
    member = await make_member(session, name)
    await membership.admit(session, member.id or 0, probation_days=30, now=now, actor=0)
    placed = await orders.place_order(
        session, buy_id, member_id=member.id or 0, lines=[LineRequest(p, amount) for p in products], now=now, actor=0
    )
    return placed.order.id or 0


async def test_a_decrease_reads_the_lines_increments_by_index_without_statistics(session):
    now = datetime.now(UTC)
    supplier = await make_supplier(session)
    products = [await make_product(session, supplier.id, tiers=[(1, 100)]) for _ in range(3)]
    new = buying.NewGroupBuy(supplier.id or 0, "Reads", now + timedelta(days=1), tuple(products))
    buy_id = (await buying.create_group_buy(session, new, now=now, actor=0)).id or 0
    other = await _member_with_order(session, buy_id, products, "Other Shop", 1)
    await session.execute(
        sa.text(
            "INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)"
            " SELECT l.id, -s, 1, 0, now() FROM order_line l, generate_series(1, :n) AS s WHERE l.order_id = :order"
        ),
        {"n": OTHER_INCREMENTS // len(products), "order": other},
    )
    order_id = await _member_with_order(session, buy_id, products, "Queue Shop", 4)
    for more in (6, 9):  # three increments a line, so the decrease drops one and shrinks another
        await orders.change_order(session, order_id, lines=[LineRequest(p, more) for p in products], now=now)
    await session.execute(sa.text("SELECT pg_clear_relation_stats('public', 'order_increment')"))
    for column in ("id", "order_line_id", "at_seq", "quantity", "flex_quantity", "created_at"):
        await session.execute(
            sa.text("SELECT pg_clear_attribute_stats('public', 'order_increment', :column, false)"), {"column": column}
        )
    before = (await session.execute(SCANS)).one()

    view = await orders.change_order(session, order_id, lines=[LineRequest(p, 5) for p in products], now=now)

    assert [ln.quantity for ln in view.lines] == [5, 5, 5]
    after = (await session.execute(SCANS)).one()
    assert (after.seq_scan - before.seq_scan, after.seq_tup_read - before.seq_tup_read) == (0, 0)
    kept = await session.execute(
        sa.text(
            "SELECT i.quantity FROM order_increment i JOIN order_line l ON l.id = i.order_line_id"
            " WHERE l.order_id = :order ORDER BY l.product_id, i.at_seq"
        ),
        {"order": order_id},
    )
    assert kept.scalars().all() == [4, 1] * len(products)  # 4 + 2 + 3 less 4: the newest dropped, the next shrunk
