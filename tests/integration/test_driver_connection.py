"""The session's asyncpg connection runs inside the session's transaction, begun if need be."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from domain.db import driver_connection, holds_transaction, make_session_maker
from domain.identity.tables import AuthToken


async def test_the_driver_connection_of_a_fresh_session_is_in_its_transaction(committing_engine):
    async with make_session_maker(committing_engine)() as session:
        raw = await driver_connection(session)
        assert raw.is_in_transaction()
        await raw.execute("CREATE TEMP TABLE driver_probe (n int) ON COMMIT DROP")
        await raw.execute("INSERT INTO driver_probe VALUES (1)")
        await session.rollback()
        # Rolled back with the session: the table (and the row) never existed outside it.
        assert await raw.fetchval("SELECT to_regclass('pg_temp.driver_probe')") is None
        assert not raw.is_in_transaction()


async def test_a_second_call_in_the_same_transaction_sends_no_second_begin(committing_engine):
    async with make_session_maker(committing_engine)() as session:
        first = await driver_connection(session)
        await first.execute("CREATE TEMP TABLE driver_probe2 (n int) ON COMMIT DROP")
        second = await driver_connection(session)
        assert second is first
        assert await second.fetchval("SELECT count(*) FROM pg_temp.driver_probe2") == 0
        await session.commit()
        assert not first.is_in_transaction()


async def test_a_session_holds_a_transaction_only_once_the_server_has_one_or_rows_wait_to_flush(committing_engine):
    async with make_session_maker(committing_engine)() as session:
        assert not holds_transaction(session)
        raw = await driver_connection(session, begin=False)
        assert await raw.fetchval("SELECT 1") == 1  # committed by itself: nothing for the session to end
        assert not holds_transaction(session)
        await session.execute(sa.text("SELECT 1"))  # through SQLAlchemy: BEGIN went with it
        assert holds_transaction(session)
        await session.commit()
        assert not holds_transaction(session)
        session.add(AuthToken(user_id=0, token_digest="x" * 64, expires_at=datetime.now(UTC)))
        assert holds_transaction(session)
        session.expunge_all()
