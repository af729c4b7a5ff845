"""The network clock (issue 16): event reminders once per registration, spent rate windows swept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from domain.network import events
from domain.network.rules import PUBLIC_DIRECTORY_LIMIT, NewEvent, window_start
from domain.network.tables import DirectoryRateWindow
from tests.api.test_network_directory import _member
from workers.network import run_clock


async def _reminders(session) -> list[str]:
    rows = await session.execute(
        sa.text("SELECT business_key FROM outbox_job WHERE business_key LIKE 'notify:event_registration:%' ORDER BY id")
    )
    return list(rows.scalars())


async def test_a_confirmed_registration_is_reminded_once_a_day_before_and_spent_windows_go(session_maker, session):
    now = datetime.now(UTC)
    starts = now + timedelta(days=3)
    event = await events.create_event(
        session,
        NewEvent(
            title="Webinar",
            description="",
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            place=None,
            online_url="https://meet.test/w",
            capacity=1,
            member_price_cents=0,
            nonmember_price_cents=0,
            cancellation_deadline=None,
        ),
        now=now,
        actor=0,
    )
    seated = await events.register(
        session, event.id, await _member(session, "Seated"), [("A", "a@x.test")], now=now, actor=0
    )
    waiting = await events.register(
        session, event.id, await _member(session, "Waiting"), [("B", "b@x.test")], now=now, actor=0
    )
    assert (seated.status, waiting.status) == ("confirmed", "waitlisted")
    current = window_start(now, PUBLIC_DIRECTORY_LIMIT)
    session.add_all(
        [
            DirectoryRateWindow(key="spent", window_start=current - timedelta(minutes=5), hits=3),
            DirectoryRateWindow(key="live", window_start=current, hits=1),
        ]
    )
    await session.commit()

    early = await run_clock(session_maker, None, now=now)
    assert (early["reminded"], early["windows_swept"]) == (0, 1)
    keys = set((await session.execute(sa.select(col(DirectoryRateWindow.key)))).scalars())
    assert keys == {"live"}

    day_before = starts - timedelta(hours=20)
    assert (await run_clock(session_maker, None, now=day_before))["reminded"] == 1
    assert (await run_clock(session_maker, None, now=day_before + timedelta(hours=1)))["reminded"] == 0
    assert await _reminders(session) == [f"notify:event_registration:{seated.id}:reminder"]
    assert (await run_clock(session_maker, None, now=starts + timedelta(minutes=1)))["reminded"] == 0
