"""The session's asyncpg connection runs inside the session's transaction, begun if need be."""

from __future__ import annotations

from domain.db import driver_connection, make_session_maker


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
