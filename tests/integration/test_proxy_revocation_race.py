"""A member revokes its proxy at the moment the holder votes under it (issue 15): real connections, COMMITs.

The proxy's row lock orders the two: either the revocation wins (the holder's vote is a
403 `no_proxy` and nothing is counted) or the vote wins (the revocation is a 409
`proxy_used` and the vote counts). Never both: a vote counted under a revoked proxy.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from domain.db import make_engine, make_session_maker
from domain.errors import DomainError
from domain.governance import ballots, counting, votes
from domain.governance.rules import BallotKind, Choice, Threshold
from domain.membership import service as membership
from domain.membership.rules import Status

ROUNDS = 6


async def _member(s, name: str, tag: str) -> int:
    member = await membership.apply(
        s,
        name=f"{name} {tag}",
        email=f"{name.rsplit(maxsplit=1)[-1].lower()}-{tag}@race.test",
        contact_name=None,
        par_cents=10_000,
    )
    for before, after, year in [(Status.APPLICANT, Status.FULL, 1980), (Status.FULL, Status.FORMER, 1981)]:
        # Gone by 1981: committed for good, so it is on no other test's roll and counts as no full member.
        await membership.record_change(
            s,
            member,
            from_status=before,
            to_status=after,
            effective_at=datetime(year, 1, 1, tzinfo=UTC),
            reason="race test",
            actor_user_id=None,
        )
    return member.id or 0


async def test_a_revocation_and_the_holders_vote_never_both_succeed(own_database):
    engine = make_engine(own_database, pool_size=4)
    maker = make_session_maker(engine)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    ballot_ids: list[int] = []
    outcomes = set()
    try:
        async with maker() as s:
            grantor, holder = await _member(s, "Race Grantor", tag), await _member(s, "Race Holder", tag)
            await s.commit()

        async def revoke(ballot_id: int) -> str:
            async with maker() as s:
                try:
                    await votes.revoke_proxy(s, ballot_id, grantor=grantor, now=datetime.now(UTC))
                except DomainError as refused:
                    return str(refused.code)
                await s.commit()
                return "revoked"

        async def vote(ballot_id: int) -> str:
            async with maker() as s:
                try:
                    await votes.cast_vote(
                        s,
                        ballot_id,
                        member_id=holder,
                        choice=Choice.YES,
                        ranking=None,
                        now=datetime.now(UTC),
                        for_member_id=grantor,
                    )
                except DomainError as refused:
                    return str(refused.code)
                await s.commit()
                return "voted"

        for _ in range(ROUNDS):
            async with maker() as s:
                ballot = await ballots.create_ballot(
                    s,
                    ballots.NewBallot(
                        title=f"Proxy race {tag}",
                        kind=BallotKind.RESOLUTION,
                        record_date=date(1980, 6, 1),
                        opens_at=now - timedelta(minutes=1),
                        closes_at=now + timedelta(hours=1),
                        quorum_rate=Decimal(0),
                        threshold=Threshold.MAJORITY,
                        proxy_cap=1,
                    ),
                    now=now,
                    actor=0,
                )
                await votes.appoint_proxy(s, ballot.id or 0, grantor=grantor, holder=holder, now=now)
                await s.commit()
                ballot_id = ballot.id or 0
                ballot_ids.append(ballot_id)
            revoked, voted = await asyncio.gather(revoke(ballot_id), vote(ballot_id))
            assert (revoked, voted) in {("revoked", "no_proxy"), ("proxy_used", "voted")}, (revoked, voted)
            outcomes.add(revoked)
            async with maker() as s:
                cast = (
                    await s.execute(sa.text("SELECT count(*) FROM cast_ballot WHERE ballot_id = :b"), {"b": ballot_id})
                ).scalar_one()
                proxies = (
                    await s.execute(sa.text("SELECT count(*) FROM ballot_proxy WHERE ballot_id = :b"), {"b": ballot_id})
                ).scalar_one()
            assert (cast, proxies) == ((0, 0) if revoked == "revoked" else (1, 1))
            async with maker() as s:  # closed, so no ballot clock (a worker test's) reminds members of it
                await counting.close_ballot(s, ballot_id, now=datetime.now(UTC))
                await s.commit()
    finally:
        await engine.dispose()
