"""The ballot clock (issue 15): opens scheduled ballots, reminds before the close, closes and counts on time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from domain.governance import ballots, votes
from domain.governance.rules import BallotKind, Choice, Threshold
from domain.membership.rules import Status
from tests.support.governance import LONG_AGO, member_with_history
from workers.governance import run_clock


async def _notices(session, ballot_id: int) -> list[str]:
    rows = await session.execute(
        sa.text("SELECT payload->>'event' FROM outbox_job WHERE business_key LIKE :k ORDER BY id"),
        {"k": f"notify:ballot:{ballot_id}:%"},
    )
    return list(rows.scalars())


async def test_the_clock_opens_reminds_and_closes_on_time_and_twice_is_harmless(session_maker, session):
    member = await member_with_history(session, "Clock Voter", [(Status.FULL, LONG_AGO)])
    now = datetime.now(UTC)
    ballot = await ballots.create_ballot(
        session,
        ballots.NewBallot(
            title="Clocked",
            kind=BallotKind.RESOLUTION,
            record_date=date(1990, 6, 1),
            opens_at=now + timedelta(hours=1),
            closes_at=now + timedelta(hours=5),
            quorum_rate=Decimal("0.5"),
            threshold=Threshold.MAJORITY,
        ),
        now=now,
        actor=0,
    )
    await session.commit()
    ballot_id = ballot.id or 0
    assert (await run_clock(session_maker, None, now=now))["opened"] == 0
    opened = await run_clock(session_maker, None, now=now + timedelta(hours=2))
    assert (opened["opened"], opened["failed"]) == (1, 0)
    # Opened and due for a reminder (closes within a day): the next tick reminds.
    assert (await run_clock(session_maker, None, now=now + timedelta(hours=2)))["reminded"] == 1
    await votes.cast_vote(
        session, ballot_id, member_id=member.id or 0, choice=Choice.YES, ranking=None, now=now + timedelta(hours=3)
    )
    await session.commit()
    closed = await run_clock(session_maker, None, now=now + timedelta(hours=6))
    assert (closed["closed"], closed["failed"]) == (1, 0)
    assert (await run_clock(session_maker, None, now=now + timedelta(hours=7)))["closed"] == 0
    session.expire_all()  # the clock's own sessions closed it
    view = await ballots.get_ballot(session, ballot_id)
    assert view.ballot.status == "closed"
    assert view.result is not None
    assert view.result["counts"]["yes"] == 1
    assert await _notices(session, ballot_id) == ["ballot.opened", "ballot.closing_soon", "ballot.result"]
