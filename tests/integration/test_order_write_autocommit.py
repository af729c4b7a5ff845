"""An order write with no transaction open is one statement, committed by itself (issue 12, fourth part).

The API's request has no transaction open when the token came from the cache; the order
change then costs one round trip (the SQL function coop_order_change), with no BEGIN and no
COMMIT. These tests commit for real, so they use a database of their own.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.db import driver_connection, make_engine, make_session_maker
from domain.errors import ConflictError
from domain.membership import service as membership
from tests.support.buying import make_product, make_supplier
from tests.support.scratch_db import migrated_database
from tests.support.users import make_member

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from domain.db import SessionMaker


@pytest.fixture(scope="module")
def scratch_url(stack: Any) -> Iterator[str]:
    with migrated_database(stack.database_url, "order_write_autocommit") as url:
        yield url


@pytest.fixture
async def sessions(scratch_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SessionMaker]:
    # Price version ids restart in this database: the process's copy of pinned versions
    # (filled from the shared one) must not answer for them, nor keep what this one adds.
    monkeypatch.setattr(buying, "_VERSIONS", {})
    engine = make_engine(scratch_url, pool_size=2)
    yield make_session_maker(engine)
    await engine.dispose()


async def _open_order(sessions: SessionMaker) -> tuple[int, list[int]]:
    now = datetime.now(UTC)
    async with sessions() as session:
        supplier = await make_supplier(session)
        products = [await make_product(session, supplier.id, tiers=[(1, 500)]) for _ in range(3)]
        buy = await buying.create_group_buy(
            session,
            buying.NewGroupBuy(supplier.id or 0, "Hot", now + timedelta(days=1), tuple(products)),
            now=now,
            actor=0,
        )
        member = await make_member(session)
        await membership.admit(session, member.id or 0, probation_days=30, now=now, actor=0)
        view = await orders.place_order(
            session,
            buy.id or 0,
            member_id=member.id or 0,
            lines=[LineRequest(p, 2) for p in products],
            now=now,
            actor=0,
        )
        await session.commit()
    return view.order.id or 0, products


async def _lines(scratch_url: str, order_id: int) -> list[tuple[int, int, int]]:
    connection = await asyncpg.connect(scratch_url)
    try:
        rows = await connection.fetch(
            "SELECT product_id, quantity, flex_quantity FROM order_line WHERE order_id = $1 ORDER BY product_id",
            order_id,
        )
    finally:
        await connection.close()
    return [tuple(r) for r in rows]


async def test_an_order_change_outside_a_transaction_is_one_statement_that_commits_itself(sessions, scratch_url):
    order_id, products = await _open_order(sessions)
    async with sessions() as session:
        raw = await driver_connection(session, begin=False)
        sent: list[str] = []
        raw.add_query_logger(lambda query: sent.append(query.query))
        view = await orders.change_order(
            session, order_id, lines=[LineRequest(products[0], 5, 1)], now=datetime.now(UTC)
        )
        await asyncio.sleep(0)  # asyncpg hands each logged query to its loggers on the next loop turn
        assert not raw.is_in_transaction()
        # Seen from another connection before this session commits or closes: committed by itself.
        assert await _lines(scratch_url, order_id) == [(products[0], 5, 1)]
    assert [(ln.product_id, ln.quantity, ln.flex_quantity) for ln in view.lines] == [(products[0], 5, 1)]
    assert len(sent) == 1, sent
    assert "coop_order_change" in sent[0]


async def test_a_refused_change_outside_a_transaction_writes_nothing(sessions, scratch_url):
    order_id, products = await _open_order(sessions)
    async with sessions() as session:
        with pytest.raises(ConflictError) as refused:
            await orders.change_order(
                session, order_id, lines=[LineRequest(products[0], 9)], now=datetime.now(UTC) + timedelta(days=2)
            )
    assert refused.value.code == orders.DEADLINE_PASSED
    assert await _lines(scratch_url, order_id) == [(p, 2, 0) for p in products]
