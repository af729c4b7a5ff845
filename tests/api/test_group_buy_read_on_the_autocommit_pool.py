"""The group buy read runs on the app's autocommit pool (issue 12, twenty-eighth part).

Its one statement needs no transaction, so with the pool and a cached token the request's
session is never given a connection; the answer is the one the session's path gives, live
totals included, and a supplier's user still does not see another supplier's buy. This test
commits for real, so it uses a database of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import event

from domain.buying import orders
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.db import autocommit_pool, make_session_maker
from tests.support.buying import make_product, make_supplier, ordering_member, supplier_headers

if TYPE_CHECKING:
    import pytest
    from arq.connections import ArqRedis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.support.apps import SharedApp


async def test_the_group_buy_read_takes_no_connection_of_the_sessions_and_answers_as_the_sessions_path(
    shared_app: SharedApp,
    committing_engine: AsyncEngine,
    own_database: str,
    queue: ArqRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(buying, "_VERSIONS", {})  # price version ids restart in this database
    sessions = make_session_maker(committing_engine)
    app = shared_app.for_test(sessions, queue)
    checkouts: list[object] = []
    event.listen(committing_engine.sync_engine, "checkout", lambda *args: checkouts.append(args))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        autocommit_pool(own_database, size=2) as pool,
        httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client,
    ):
        now = datetime.now(UTC)
        async with sessions() as session:
            supplier = await make_supplier(session)
            other = await make_supplier(session, "Hill Dairy")
            product = await make_product(session, supplier.id, tiers=[(1, 500), (10, 450)])
            member, _ = await ordering_member(client, session)
            _, headers = await ordering_member(client, session, "Night Market")
            new = buying.NewGroupBuy(supplier.id or 0, "Hot", now + timedelta(days=1), (product,))
            buy = await buying.create_group_buy(session, new, now=now, actor=0)
            await orders.place_order(
                session, buy.id or 0, member_id=member.id or 0, lines=[LineRequest(product, 4)], now=now, actor=0
            )
            await session.commit()
            others = await supplier_headers(client, session, other.id)
        read = f"/v1/group-buys/{buy.id}"
        on_the_session = await client.get(read, headers=headers)  # the token and price versions are cached now
        assert on_the_session.status_code == 200, on_the_session.text
        assert (await client.get(read, headers=others)).status_code == 404  # the other supplier's token is cached too

        app.state.autocommit_pool = pool  # as the app's own start-up makes it (api/app.py)
        checkouts.clear()
        on_the_pool = await client.get(read, headers=headers)
        assert on_the_pool.status_code == 200, on_the_pool.text
        assert on_the_pool.json() == on_the_session.json()
        assert on_the_pool.json()["items"][0]["quantity"] == 4

        placed = await client.post(
            f"{read}/orders", json={"lines": [{"product_id": str(product), "quantity": 6}]}, headers=headers
        )
        assert placed.status_code == 201, placed.text
        live = await client.get(read, headers=headers)
        assert live.json()["items"][0]["quantity"] == 10
        assert live.json()["items"][0]["unit_price_cents"] == 450
        assert checkouts == []

        hidden = await client.get(read, headers=others)
        assert hidden.status_code == 404, hidden.text
