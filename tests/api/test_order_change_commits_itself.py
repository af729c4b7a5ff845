"""An order change on a cached token is one statement that commits by itself (issue 12, eighth part).

The request's unit of work then has nothing to commit or undo: it skips both and gives its
connection back before the answer goes out. This test commits for real, so it uses a database of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.db import autocommit_pool, make_session_maker
from tests.support.buying import make_product, make_supplier, ordering_member

if TYPE_CHECKING:
    import pytest
    from arq.connections import ArqRedis
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.buying.tables import GroupBuy
    from domain.membership.tables import Member
    from tests.support.apps import SharedApp


async def _hot_buy(
    client: httpx.AsyncClient, session: AsyncSession, now: datetime
) -> tuple[GroupBuy, int, Member, dict[str, str]]:
    """An open buy of one product, and a member who may order into it with its user's headers."""
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 500)])
    member, headers = await ordering_member(client, session)
    buy = await buying.create_group_buy(
        session, buying.NewGroupBuy(supplier.id or 0, "Hot", now + timedelta(days=1), (product,)), now=now, actor=0
    )
    return buy, product, member, headers


async def test_an_order_change_on_a_cached_token_commits_itself_and_the_request_commits_nothing(
    shared_app: SharedApp,
    committing_engine: AsyncEngine,
    own_database: str,
    queue: ArqRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(buying, "_VERSIONS", {})  # price version ids restart in this database
    sessions = make_session_maker(committing_engine)
    app = shared_app.for_test(sessions, queue)
    checked_out_at_answer: list[int] = []

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        async def watched_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                checked_out_at_answer.append(committing_engine.pool.checkedout())  # type: ignore[attr-defined]
            await send(message)

        await app(scope, receive, watched_send)

    transport = httpx.ASGITransport(app=watching)
    async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
        now = datetime.now(UTC)
        async with sessions() as session:
            buy, product, member, headers = await _hot_buy(client, session, now)
            view = await orders.place_order(
                session, buy.id or 0, member_id=member.id or 0, lines=[LineRequest(product, 2)], now=now, actor=0
            )
            await session.commit()
        order = f"/v1/orders/{view.order.id}"
        assert (await client.get(order, headers=headers)).status_code == 200  # the token is cached now

        committed: list[Any] = []

        def note(session: Session) -> None:
            committed.append(session)

        event.listen(Session, "after_commit", note)
        checked_out_at_answer.clear()
        try:
            answer = await client.put(
                order, json={"lines": [{"product_id": str(product), "quantity": 5}]}, headers=headers
            )
        finally:
            event.remove(Session, "after_commit", note)
        assert answer.status_code == 200, answer.text
        assert committed == []
        # Its connection went back to the pool before the answer went out, as after a commit.
        assert checked_out_at_answer == [0]

    connection = await asyncpg.connect(own_database)
    try:
        assert await connection.fetchval("SELECT quantity FROM order_line WHERE order_id = $1", view.order.id) == 5
    finally:
        await connection.close()


async def test_with_the_apps_autocommit_pool_an_order_write_takes_no_connection_of_the_sessions(
    shared_app: SharedApp,
    committing_engine: AsyncEngine,
    own_database: str,
    queue: ArqRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(buying, "_VERSIONS", {})
    sessions = make_session_maker(committing_engine)
    app = shared_app.for_test(sessions, queue)
    checkouts: list[object] = []
    event.listen(committing_engine.sync_engine, "checkout", lambda *args: checkouts.append(args))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        autocommit_pool(own_database, size=2) as pool,
        httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client,
    ):
        app.state.autocommit_pool = pool  # as the app's own start-up makes it (api/app.py)
        async with sessions() as session:
            buy, product, _, headers = await _hot_buy(client, session, datetime.now(UTC))
            await session.commit()
        placing = f"/v1/group-buys/{buy.id}/orders"
        assert (await client.get("/v1/me", headers=headers)).status_code == 200  # the token is cached now
        await client.get(f"/v1/group-buys/{buy.id}", headers=headers)  # the price versions are read
        checkouts.clear()
        placed = await client.post(
            placing, json={"lines": [{"product_id": str(product), "quantity": 2}]}, headers=headers
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()["id"]
        changed = await client.put(
            f"/v1/orders/{order}", json={"lines": [{"product_id": str(product), "quantity": 7}]}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["lines"][0]["quantity"] == 7
        assert checkouts == []
        # A refusal is still worded as before: another member's order is not found.
        refused = await client.put(
            f"/v1/orders/{int(order) + 1000}",
            json={"lines": [{"product_id": str(product), "quantity": 1}]},
            headers=headers,
        )
        assert refused.status_code == 404, refused.text
    connection = await asyncpg.connect(own_database)
    try:
        assert await connection.fetchval("SELECT quantity FROM order_line WHERE order_id = $1", int(order)) == 7
    finally:
        await connection.close()
