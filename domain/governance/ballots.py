"""Ballots: created by staff, read, locked for a vote or a close, and who is on the voter roll (DOMAIN.md section 7).

Locking, so a vote and a close never disagree:
- a vote takes the ballot's advisory lock shared and its row FOR SHARE, checks it is open
  and the window has not passed, then the member's voter-roll row FOR UPDATE, so two admins
  of one member voting at once queue one behind the other: the second replaces the first;
- open and close take the advisory lock exclusive and the row FOR UPDATE, waiting for the
  votes in flight and keeping new ones out (the advisory lock's queue is fair, so a stream
  of votes cannot starve a close);
- the unique (ballot, slot) key backs it: one counted ballot per voter whatever happens.

Secrecy: `ballot_voter` (who) and `cast_ballot` (what) share nothing but, while the ballot
is open, `slot` = HMAC(ballot seal, member id), needed to find the ballot a second vote
replaces. The close erases every slot and the seal in the transaction that counts, so a
closed ballot's two tables cannot be joined by anyone, the database's operators included.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import col, select

from domain.errors import NotFoundError
from domain.governance.rules import (
    BallotEvent,
    BallotKind,
    BallotStatus,
    Method,
    NewBallotRules,
    Threshold,
    check_new_ballot,
    move_ballot,
)
from domain.governance.tables import (
    Ballot,
    BallotCandidate,
    BallotResult,
    CastBallot,
)
from domain.governance.views import BallotView
from domain.membership.tables import MemberStatusChange
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

MEMBERS = "members"  # notification audience: every member
CLOSING_SOON = timedelta(hours=24)
NOT_ON_VOTER_ROLL = "not_on_voter_roll"
BALLOT_NOT_OPEN = "ballot_not_open"
BALLOT_NOT_CLOSED = "ballot_not_closed"
BALLOT_SECRET = "ballot_secret"  # noqa: S105 - a problem code, not a password
NO_PROXY = "no_proxy"
ALREADY_VOTED = "already_voted"
PROXY_EXISTS = "proxy_exists"
PROXY_USED = "proxy_used"

# Namespace of the ballots' advisory locks (the two-int form, as the group buys').
_BALLOT_LOCKS = 0x4241_4C4C  # "BALL"
_INT4 = 2**31


@dataclass(frozen=True, slots=True)
class NewBallot:
    """What staff give to create a ballot (validated by rules.check_new_ballot)."""

    title: str
    kind: BallotKind
    record_date: date
    opens_at: datetime
    closes_at: datetime
    quorum_rate: Decimal
    secret: bool = True
    proxy_cap: int | None = None
    threshold: Threshold | None = None
    seats: int | None = None
    method: Method | None = None
    candidates: tuple[str, ...] | None = None


def end_of(day: date) -> datetime:
    """The first instant after a record date (UTC): the status then in force is the status on that date."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def eligible_query(record_date: date) -> sa.Select[tuple[int]]:
    """Members whose status at the end of the record date (their latest dated change before it) was `full`."""
    latest = (
        sa.select(col(MemberStatusChange.member_id), col(MemberStatusChange.to_status))
        .where(col(MemberStatusChange.effective_at) < end_of(record_date))
        .ext(distinct_on(col(MemberStatusChange.member_id)))
        .order_by(
            col(MemberStatusChange.member_id),
            col(MemberStatusChange.effective_at).desc(),
            col(MemberStatusChange.id).desc(),
        )
        .subquery("latest")
    )
    return sa.select(latest.c.member_id).where(latest.c.to_status == "full")


async def eligible_count(session: AsyncSession, record_date: date) -> int:
    """How many members were full on the record date."""
    query = sa.select(sa.func.count()).select_from(eligible_query(record_date).subquery())
    return int((await session.execute(query)).scalar_one())


async def was_full_on(session: AsyncSession, member_id: int, record_date: date) -> bool:
    """Whether the member's status at the end of the record date was `full` (from the dated history)."""
    query = (
        select(MemberStatusChange.to_status)
        .where(
            col(MemberStatusChange.member_id) == member_id, col(MemberStatusChange.effective_at) < end_of(record_date)
        )
        .order_by(col(MemberStatusChange.effective_at).desc(), col(MemberStatusChange.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first() == "full"


async def create_ballot(session: AsyncSession, new: NewBallot, *, now: datetime, actor: int) -> Ballot:
    """A ballot, open at once when its window has begun, else `scheduled` until the clock opens it."""
    check_new_ballot(
        NewBallotRules(
            kind=new.kind,
            record_date=new.record_date,
            opens_at=new.opens_at,
            closes_at=new.closes_at,
            quorum_rate=new.quorum_rate,
            threshold=new.threshold,
            seats=new.seats,
            method=new.method,
            candidate_names=new.candidates,
        ),
        now=now,
    )
    election = new.kind is BallotKind.ELECTION
    ballot = Ballot(
        title=new.title,
        kind=new.kind.value,
        status=BallotStatus.SCHEDULED.value,
        record_date=new.record_date,
        opens_at=new.opens_at,
        closes_at=new.closes_at,
        quorum_rate=new.quorum_rate,
        threshold=None if election else (new.threshold or Threshold.MAJORITY).value,
        seats=new.seats if election else None,
        method=(new.method or Method.STV).value if election else None,
        secret=new.secret,
        proxy_cap=new.proxy_cap,
        seal=secrets.token_bytes(32),
        created_by=actor,
    )
    session.add(ballot)
    await session.flush()
    assert ballot.id is not None  # noqa: S101 - flushed rows have ids
    for position, name in enumerate(new.candidates or () if election else ()):
        session.add(BallotCandidate(ballot_id=ballot.id, position=position, name=name.strip()))
    if new.opens_at <= now:
        await open_ballot(session, ballot, now)
    await session.flush()
    return ballot


async def open_ballot(session: AsyncSession, ballot: Ballot, now: datetime) -> None:
    """Open the (locked) ballot and tell every member."""
    ballot.status = move_ballot(ballot.status, BallotEvent.OPEN, ballot_id=ballot.id).value
    ballot.opened_at = now
    session.add(ballot)
    await notifications.record(
        session,
        event="ballot.opened",
        audience=MEMBERS,
        data={"ballot_id": str(ballot.id), "title": ballot.title, "closes_at": ballot.closes_at.isoformat()},
        business_key=f"ballot:{ballot.id}:opened",
    )


async def _views(session: AsyncSession, ballots: Sequence[Ballot]) -> list[BallotView]:
    ids = [b.id for b in ballots if b.id is not None]
    if not ids:
        return []
    candidates = (
        await session.exec(
            select(BallotCandidate)
            .where(col(BallotCandidate.ballot_id).in_(ids))
            .order_by(col(BallotCandidate.ballot_id), col(BallotCandidate.position))
        )
    ).all()
    casts: dict[int, int] = dict(
        (
            await session.execute(
                sa.select(col(CastBallot.ballot_id), sa.func.count())
                .where(col(CastBallot.ballot_id).in_(ids))
                .group_by(col(CastBallot.ballot_id))
            )
        ).all()
    )
    results = {
        r.ballot_id: r.result
        for r in (await session.exec(select(BallotResult).where(col(BallotResult.ballot_id).in_(ids)))).all()
    }
    rolls: dict[date, int] = {}
    views = []
    for ballot in ballots:
        result = results.get(ballot.id or 0)
        if result is not None:
            eligible = int(result["eligible"])
        else:
            if ballot.record_date not in rolls:
                rolls[ballot.record_date] = await eligible_count(session, ballot.record_date)
            eligible = rolls[ballot.record_date]
        views.append(
            BallotView(
                ballot=ballot,
                candidates=[c for c in candidates if c.ballot_id == ballot.id],
                eligible=eligible,
                cast=casts.get(ballot.id or 0, 0),
                result=result,
            )
        )
    return views


async def get_ballot(session: AsyncSession, ballot_id: int) -> BallotView:
    """One ballot (404 if unknown)."""
    ballot = await session.get(Ballot, ballot_id)
    if ballot is None:
        raise NotFoundError(f"ballot {ballot_id} not found")
    return (await _views(session, [ballot]))[0]


async def ballot_page(
    session: AsyncSession, *, after_id: int, limit: int, status: BallotStatus | None = None
) -> list[BallotView]:
    """Ballots in id order after a cursor."""
    query = select(Ballot).where(col(Ballot.id) > after_id)
    if status is not None:
        query = query.where(col(Ballot.status) == status.value)
    ballots = (await session.exec(query.order_by(col(Ballot.id)).limit(limit))).all()
    return await _views(session, ballots)


async def locked_ballot(session: AsyncSession, ballot_id: int, *, share: bool) -> Ballot:
    """The ballot, under its advisory lock and row lock: shared for a vote, exclusive to open or close it."""
    take = sa.func.pg_advisory_xact_lock_shared if share else sa.func.pg_advisory_xact_lock
    await session.execute(sa.select(take(_BALLOT_LOCKS, ballot_id % _INT4)))
    query = (
        select(Ballot)
        .where(col(Ballot.id) == ballot_id)
        .with_for_update(read=share)
        .execution_options(populate_existing=True)
    )
    ballot = (await session.exec(query)).one_or_none()
    if ballot is None:
        raise NotFoundError(f"ballot {ballot_id} not found")
    return ballot
