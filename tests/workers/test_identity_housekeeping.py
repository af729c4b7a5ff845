"""Throttling rows of addresses and accounts that went quiet are deleted by the daily job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from domain.identity.tables import LoginThrottle
from workers.identity import forget_quiet_sign_in_failures


async def test_quiet_keys_are_forgotten_and_live_ones_kept(session_maker, session):
    now = datetime.now(UTC)
    session.add_all(
        [
            LoginThrottle(key="address:10.0.0.1", failures=3, last_failure_at=now - timedelta(days=2)),
            LoginThrottle(key="account:recent@x.test", failures=9, last_failure_at=now - timedelta(hours=1)),
            LoginThrottle(
                key="account:still-blocked@x.test",
                failures=30,
                last_failure_at=now - timedelta(days=2),
                blocked_until=now + timedelta(minutes=5),
            ),
        ]
    )
    await session.commit()
    assert await forget_quiet_sign_in_failures({"session_maker": session_maker}) == 1
    assert await forget_quiet_sign_in_failures({"session_maker": session_maker}) == 0
    keys = set((await session.execute(sa.select(col(LoginThrottle.key)))).scalars())
    assert keys == {"account:recent@x.test", "account:still-blocked@x.test"}
