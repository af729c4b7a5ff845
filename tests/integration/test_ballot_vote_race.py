"""Two admins of one member vote at the same moment (issue 15): real connections, real COMMITs.

The member's row on the voter roll serializes them and the unique (ballot, slot) key backs
it: whatever the interleaving, one ballot is counted for the member, the later one.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from domain.db import make_engine, make_session_maker
from domain.governance import ballots, counting, votes
from domain.governance.rules import BallotKind, Choice, Threshold
from domain.membership import service as membership
from domain.membership.rules import Status

ROUNDS = 8


async def test_two_admins_voting_at_once_count_once(own_database):
    engine = make_engine(own_database, pool_size=4)
    maker = make_session_maker(engine)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    try:
        async with maker() as s:
            member = await membership.apply(
                s, name=f"Race Voter {tag}", email=f"{tag}@race.test", contact_name=None, par_cents=10_000
            )
            await membership.record_change(
                s,
                member,
                from_status=Status.APPLICANT,
                to_status=Status.FULL,
                effective_at=datetime(1980, 1, 1, tzinfo=UTC),
                reason="race test",
                actor_user_id=None,
            )
            # Gone by 1981: committed for good, so it must be on no other test's voter roll.
            await membership.record_change(
                s,
                member,
                from_status=Status.FULL,
                to_status=Status.FORMER,
                effective_at=datetime(1981, 1, 1, tzinfo=UTC),
                reason="race test",
                actor_user_id=None,
            )
            ballot = await ballots.create_ballot(
                s,
                ballots.NewBallot(
                    title=f"Race {tag}",
                    kind=BallotKind.RESOLUTION,
                    record_date=date(1980, 6, 1),
                    opens_at=now - timedelta(minutes=1),
                    closes_at=now + timedelta(hours=1),
                    quorum_rate=Decimal(0),
                    threshold=Threshold.MAJORITY,
                ),
                now=now,
                actor=0,
            )
            await s.commit()
            ballot_id, member_id = ballot.id or 0, member.id or 0

        async def vote(choice: Choice) -> str:
            async with maker() as s:
                receipt = await votes.cast_vote(
                    s, ballot_id, member_id=member_id, choice=choice, ranking=None, now=datetime.now(UTC)
                )
                await s.commit()
                return receipt

        for _ in range(ROUNDS):
            receipts = await asyncio.gather(vote(Choice.YES), vote(Choice.NO))
            assert len(set(receipts)) == 2
            async with maker() as s:
                counted = (
                    (await s.execute(sa.text("SELECT receipt FROM cast_ballot WHERE ballot_id = :b"), {"b": ballot_id}))
                    .scalars()
                    .all()
                )
                assert len(counted) == 1
                assert counted[0] in receipts
                roll = (
                    await s.execute(sa.text("SELECT count(*) FROM ballot_voter WHERE ballot_id = :b"), {"b": ballot_id})
                ).scalar()
                assert roll == 1
        async with maker() as s:
            closed = await counting.close_ballot(s, ballot_id, now=datetime.now(UTC))
            await s.commit()
        assert closed.result is not None
        assert closed.result["cast"] == 1
        assert sum(closed.result["counts"].values()) == 1
    finally:
        await engine.dispose()
