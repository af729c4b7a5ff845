"""Twenty members register for an event of five seats, all at once, on separate connections with real COMMITs.

Exactly five are confirmed and fifteen waitlisted; the event's count agrees. The data is
committed for real, into a database of the test's own (`committing_engine`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from domain.db import make_session_maker
from domain.membership import service as membership
from domain.network import events
from domain.network.rules import NewEvent
from domain.network.tables import NetworkEvent

MEMBERS = 20
CAPACITY = 5


async def test_twenty_concurrent_registrations_for_five_seats_confirm_exactly_five(committing_engine):
    maker = make_session_maker(committing_engine)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with maker() as s:
        members = []
        for i in range(MEMBERS):
            member = await membership.apply(
                s, name=f"Seat {tag} {i}", email=f"{tag}.{i}@seat.test", contact_name=None, par_cents=10_000
            )
            member.status, member.joined_at = "full", now
            s.add(member)
            members.append(member.id or 0)
        await s.commit()
        new = NewEvent(
            "Free talk", "", now + timedelta(days=1), now + timedelta(days=1, hours=1), "Hall", None, CAPACITY, 0, 0,
            None,
        )  # fmt: skip
        event_id = (await events.create_event(s, new, now=now, actor=0)).id
        await s.commit()

    outcomes: Counter[str] = Counter()

    async def register(member_id: int) -> None:
        async with maker() as s:
            view = await events.register(
                s, event_id, member_id, [("One", f"{member_id}@seat.test")], now=datetime.now(UTC), actor=0
            )
            await s.commit()
            outcomes[view.status] += 1

    await asyncio.gather(*(register(m) for m in members))
    assert outcomes == {"confirmed": CAPACITY, "waitlisted": MEMBERS - CAPACITY}
    async with maker() as s:
        event = await s.get(NetworkEvent, event_id)
        assert event is not None
        assert event.taken == CAPACITY
