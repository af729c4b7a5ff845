"""How many statements an order write sends to PostgreSQL (the hot path of issue 12).

Not a timing: a count of round trips, which the order change must keep near the raw
floor's (lock the buy, lock the order, write increments, lines, the order and the totals).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.db import driver_connection
from domain.membership import service as membership
from tests.support.buying import make_product, make_supplier
from tests.support.users import make_member

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlmodel.ext.asyncio.session import AsyncSession


ASYNCPG_INTROSPECTION = ("typeinfo_tree", "set_config('jit'")


@contextlib.asynccontextmanager
async def statements(session: AsyncSession) -> AsyncIterator[list[str]]:
    """The SQL statements the session sends inside the block, through SQLAlchemy or its asyncpg connection.

    Savepoints are left out (the test harness's; the app's transaction has none).
    """
    seen: list[str] = []
    bind = session.bind
    assert bind is not None
    engine = bind.sync_engine if isinstance(bind, AsyncEngine) else bind.sync_connection
    raw = await driver_connection(session)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "SAVEPOINT" not in statement:
            seen.append(statement)

    def record_raw(query: Any) -> None:
        # Statements sent on the asyncpg connection itself (SQLAlchemy's go through prepared
        # statements, which this logger does not see, so nothing is counted twice). asyncpg's
        # own look-up of a type the connection has not met yet (once per connection, with JIT
        # switched off around it) is the driver's, not the code's under test.
        if "SAVEPOINT" not in query.query and not any(part in query.query for part in ASYNCPG_INTROSPECTION):
            seen.append(query.query)

    sa.event.listen(engine, "before_cursor_execute", record)
    raw.add_query_logger(record_raw)
    try:
        yield seen
        await asyncio.sleep(0)  # asyncpg hands each logged query to its loggers on the next loop turn
    finally:
        raw.remove_query_logger(record_raw)
        sa.event.remove(engine, "before_cursor_execute", record)


async def _open_order(session: AsyncSession) -> tuple[int, list[int]]:
    now = datetime.now(UTC)
    supplier = await make_supplier(session)
    products = [await make_product(session, supplier.id, case_size=6, tiers=[(1, 500), (24, 450)]) for _ in range(5)]
    buy = await buying.create_group_buy(
        session, buying.NewGroupBuy(supplier.id or 0, "Hot", now + timedelta(days=1), tuple(products)), now=now, actor=0
    )
    member = await make_member(session)
    await membership.admit(session, member.id or 0, probation_days=30, now=now, actor=0)
    view = await orders.place_order(
        session, buy.id or 0, member_id=member.id or 0, lines=[LineRequest(p, 1) for p in products], now=now, actor=0
    )
    await session.commit()
    return view.order.id or 0, products


async def test_an_order_change_of_five_lines_takes_a_handful_of_statements(session):
    order_id, products = await _open_order(session)
    async with statements(session) as seen:
        view = await orders.change_order(
            session, order_id, lines=[LineRequest(p, 3, 1) for p in products], now=datetime.now(UTC)
        )
        await session.flush()
    assert [(ln.quantity, ln.flex_quantity) for ln in view.lines] == [(3, 1)] * 5
    print(f"order change: {len(seen)} statements")  # noqa: T201 - the figure reported in bench/results.md
    # 18 before the set-based write path: member, owner, advisory lock, buy, order, items,
    # seq, lines, increments, three writes, the order, then the order, lines, items and
    # prices again to answer. Now: owner and member, advisory lock, buy with its items,
    # order, seq with lines and increments, one write. Now, on the session's asyncpg
    # connection: owner and member with the advisory lock, the buy and the order locked
    # with the buy's items, seq with lines and increments, one write (4). Now one call of
    # the SQL function coop_order_change (migration 0026) does all of it.
    assert len(seen) == 1, seen
    assert "coop_order_change" in seen[0]


async def test_placing_an_order_takes_a_handful_of_statements(session):
    order_id, products = await _open_order(session)
    buy = (await orders.get_order(session, order_id)).order.group_buy_id
    member = await make_member(session, "Second")
    await membership.admit(session, member.id or 0, probation_days=30, now=datetime.now(UTC), actor=0)
    await session.flush()
    async with statements(session) as seen:
        view = await orders.place_order(
            session,
            buy,
            member_id=member.id or 0,
            lines=[LineRequest(p, 2) for p in products],
            now=datetime.now(UTC),
            actor=0,
        )
    assert view.max_total_cents == 5 * 2 * 500
    print(f"order placement: {len(seen)} statements")  # noqa: T201 - the figure reported in bench/results.md
    # 15 before; then member, advisory lock, buy with items, order, one write; now the member
    # with the advisory lock, the buy with its items, the order, one write (4); now one call
    # of coop_order_place.
    assert len(seen) == 1, seen
    assert "coop_order_place" in seen[0]
