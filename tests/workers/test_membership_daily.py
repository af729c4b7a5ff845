"""The daily membership job through arq's cron entry point."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from domain.departures import service as departures
from domain.ledger.chart import PaymentMethod
from domain.membership import service as membership
from workers.membership import membership_daily

KEYS = itertools.count()


async def test_daily_job_promotes_and_completes_and_is_harmless_twice(session_maker, session):
    now = datetime.now(UTC)
    async with session_maker() as s:
        due = await membership.apply(s, name="Due", email="d@x.test", contact_name=None, par_cents=10_000)
        leaving = await membership.apply(s, name="Leaving", email="l@x.test", contact_name=None, par_cents=10_000)
        for m in (due, leaving):
            assert m.id is not None
            await membership.pay_share(
                s,
                m.id,
                amount_cents=10_000,
                method=PaymentMethod.CASH,
                reference=None,
                now=now,
                entry_key=f"k{next(KEYS)}",
                actor=1,
            )
        assert due.id is not None
        assert leaving.id is not None
        await membership.admit(s, due.id, probation_days=0, now=now, actor=1)
        await membership.admit(s, leaving.id, probation_days=0, now=now, actor=1)
        await departures.withdraw(s, leaving.id, effective_on=now.date() + timedelta(days=1), now=now, actor=1)
        # probation that ended yesterday: backdate it, as if admitted earlier
        await s.execute(
            sa.text("UPDATE member SET status='probationary', probation_ends_on=:d WHERE id=:id"),
            {"d": now.date() - timedelta(days=1), "id": due.id},
        )
        await s.execute(sa.text("UPDATE member SET resigns_on=:d WHERE id=:id"), {"d": now.date(), "id": leaving.id})
        await s.commit()
    ctx = {"session_maker": session_maker}
    assert await membership_daily(ctx) == {"promoted": 1, "left": 1}
    assert await membership_daily(ctx) == {"promoted": 0, "left": 0}
    statuses = dict(
        (
            await session.execute(
                sa.text("SELECT name, status FROM member WHERE id IN (:a, :b)"), {"a": due.id, "b": leaving.id}
            )
        ).all()
    )
    assert statuses == {"Due": "full", "Leaving": "former"}
