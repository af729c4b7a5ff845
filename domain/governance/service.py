"""Ballots: create, open and close them on time, take votes in secret, count once at close (DOMAIN.md §7).

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

import csv
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlmodel import col, select

from domain.errors import ConflictError, FieldError, ForbiddenError, InvalidInputError, NotFoundError
from domain.governance.rules import (
    BallotEvent,
    BallotKind,
    BallotStatus,
    Choice,
    ElectionCount,
    Method,
    NewBallotRules,
    Threshold,
    check_new_ballot,
    check_proxy,
    check_vote,
    count_plurality,
    count_resolution,
    count_stv,
    lot_seed,
    move_ballot,
)
from domain.governance.tables import (
    Ballot,
    BallotCandidate,
    BallotProxy,
    BallotResult,
    BallotVoter,
    CastBallot,
    MeetingAttendance,
    MeetingItem,
    RecordedVote,
)
from domain.governance.views import BallotView, RecordedChoice, RollEntry
from domain.membership.tables import Member, MemberStatusChange
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


def _eligible_query(record_date: date) -> sa.Select[tuple[int]]:
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
    query = sa.select(sa.func.count()).select_from(_eligible_query(record_date).subquery())
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


# --- create and read --------------------------------------------------------------------------


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
        await _open(session, ballot, now)
    await session.flush()
    return ballot


async def _open(session: AsyncSession, ballot: Ballot, now: datetime) -> None:
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


async def _locked(session: AsyncSession, ballot_id: int, *, share: bool) -> Ballot:
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


# --- voting ------------------------------------------------------------------------------------


def _slot(seal: bytes, member_id: int) -> bytes:
    return hmac.new(seal, f"member:{member_id}".encode(), hashlib.sha256).digest()


async def cast_vote(
    session: AsyncSession,
    ballot_id: int,
    *,
    member_id: int,
    choice: Choice | None,
    ranking: Sequence[int] | None,
    now: datetime,
    for_member_id: int | None = None,
) -> str:
    """Record the member's vote and answer its receipt; a later vote of the member replaces it until close.

    409 `ballot_not_open` outside the window; 403 `not_on_voter_roll` for a member that was
    not full on the record date; 400 naming the field for a vote that does not fit. With
    `for_member_id` the member votes as that member's proxy (403 `no_proxy` without one);
    the vote is the appointing member's, so its own later vote replaces it, and the reverse.
    """
    ballot = await _locked(session, ballot_id, share=True)
    if ballot.status != BallotStatus.OPEN.value or not ballot.opens_at <= now < ballot.closes_at:
        window = f"{ballot.opens_at.isoformat()} to {ballot.closes_at.isoformat()}"
        msg = f"ballot {ballot_id} is not open for votes (it is {ballot.status}; window {window})"
        raise ConflictError(msg, code=BALLOT_NOT_OPEN)
    if for_member_id is not None and for_member_id != member_id:
        # The proxy's row lock orders this vote and a revocation: whichever comes second sees
        # the other (a revoked proxy is gone; a used one has used_at).
        proxy = await _locked_proxy(session, ballot_id, for_member_id)
        if proxy is None or proxy.holder_member_id != member_id:
            msg = f"member {member_id} holds no proxy of member {for_member_id} for ballot {ballot_id}"
            raise ForbiddenError(msg, code=NO_PROXY)
        proxy.used_at = proxy.used_at or now
        session.add(proxy)
        member_id = for_member_id
    if not await was_full_on(session, member_id, ballot.record_date):
        msg = f"member {member_id} was not a full member on the record date {ballot.record_date}"
        raise ForbiddenError(msg, code=NOT_ON_VOTER_ROLL)
    candidates = (
        await session.exec(select(BallotCandidate.id).where(col(BallotCandidate.ballot_id) == ballot_id))
    ).all()
    check_vote(
        BallotKind(ballot.kind),
        choice=choice,
        ranking=ranking,
        candidates=[c for c in candidates if c is not None],
        method=None if ballot.method is None else Method(ballot.method),
        seats=ballot.seats,
    )
    assert ballot.seal is not None  # noqa: S101 - an open ballot has its seal (database check)
    await session.execute(insert(BallotVoter).values(ballot_id=ballot_id, member_id=member_id).on_conflict_do_nothing())
    # The member's row on the roll serializes its admins: the second waits, then replaces.
    await session.execute(
        sa.select(col(BallotVoter.ballot_id))
        .where(col(BallotVoter.ballot_id) == ballot_id, col(BallotVoter.member_id) == member_id)
        .with_for_update()
    )
    slot = _slot(ballot.seal, member_id)
    await session.execute(
        sa.delete(CastBallot).where(col(CastBallot.ballot_id) == ballot_id, col(CastBallot.slot) == slot)
    )
    receipt = secrets.token_hex(16)
    await session.execute(
        insert(CastBallot).values(
            ballot_id=ballot_id,
            receipt=receipt,
            slot=slot,
            choice=None if choice is None else choice.value,
            ranking=None if ranking is None else list(ranking),
        )
    )
    if not ballot.secret:
        # A recorded vote: who chose what is kept (and replaced with the member's later vote).
        values = {
            "choice": None if choice is None else choice.value,
            "ranking": None if ranking is None else list(ranking),
        }
        await session.execute(
            insert(RecordedVote)
            .values(ballot_id=ballot_id, member_id=member_id, **values)
            .on_conflict_do_update(index_elements=["ballot_id", "member_id"], set_=values)
        )
    return receipt


async def appoint_proxy(
    session: AsyncSession, ballot_id: int, *, grantor: int, holder: int, now: datetime
) -> BallotProxy:
    """A full member (on the record date) appoints another to vote for it on this ballot, before it closes.

    409 `proxies_not_allowed` when the ballot takes none, `proxy_cap_reached` when the holder
    holds the most allowed, `proxy_exists` for a second appointment, `already_voted` when the
    member voted already (its vote stands; it may still vote again itself). The ballot's row
    lock serializes appointments, so the cap holds under concurrent requests.
    """
    ballot = await _locked(session, ballot_id, share=False)
    if ballot.status == BallotStatus.CLOSED.value or now >= ballot.closes_at:
        msg = f"ballot {ballot_id} is closed"
        raise ConflictError(msg, code=BALLOT_NOT_OPEN)
    held = (
        await session.execute(
            sa.select(sa.func.count()).where(
                col(BallotProxy.ballot_id) == ballot_id, col(BallotProxy.holder_member_id) == holder
            )
        )
    ).scalar_one()
    check_proxy(grantor=grantor, holder=holder, cap=ballot.proxy_cap, held=int(held))
    if not await was_full_on(session, grantor, ballot.record_date):
        msg = f"member {grantor} was not a full member on the record date {ballot.record_date}"
        raise ForbiddenError(msg, code=NOT_ON_VOTER_ROLL)
    if not await was_full_on(session, holder, ballot.record_date):
        msg = "the proxy holder must be on the voter roll"
        raise InvalidInputError(msg, [FieldError("holder_member_id", "was not a full member on the record date")])
    if await session.get(BallotVoter, (ballot_id, grantor)) is not None:
        msg = f"member {grantor} has voted on ballot {ballot_id}; a proxy would have nothing to do"
        raise ConflictError(msg, code=ALREADY_VOTED)
    if await session.get(BallotProxy, (ballot_id, grantor)) is not None:
        msg = f"member {grantor} has appointed a proxy for ballot {ballot_id} already"
        raise ConflictError(msg, code=PROXY_EXISTS)
    proxy = BallotProxy(ballot_id=ballot_id, grantor_member_id=grantor, holder_member_id=holder, created_at=now)
    session.add(proxy)
    await session.flush()
    return proxy


async def _locked_proxy(session: AsyncSession, ballot_id: int, grantor: int) -> BallotProxy | None:
    query = (
        select(BallotProxy)
        .where(col(BallotProxy.ballot_id) == ballot_id, col(BallotProxy.grantor_member_id) == grantor)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).one_or_none()


async def revoke_proxy(session: AsyncSession, ballot_id: int, *, grantor: int, now: datetime) -> BallotProxy:
    """The appointing member takes its proxy back before the holder votes under it, while the ballot is open.

    404 `no_proxy` without one; 409 `proxy_used` once the holder voted for the member (the
    vote stands; the member may still vote itself, which replaces it); 409 `ballot_not_open`
    after close. The proxy's row lock decides a race with the holder's vote.
    """
    ballot = await _locked(session, ballot_id, share=True)
    if ballot.status == BallotStatus.CLOSED.value or now >= ballot.closes_at:
        msg = f"ballot {ballot_id} is closed"
        raise ConflictError(msg, code=BALLOT_NOT_OPEN)
    proxy = await _locked_proxy(session, ballot_id, grantor)
    if proxy is None:
        msg = f"member {grantor} has appointed no proxy for ballot {ballot_id}"
        raise NotFoundError(msg, code=NO_PROXY)
    if proxy.used_at is not None:
        msg = f"member {proxy.holder_member_id} voted under this proxy at {proxy.used_at.isoformat()}"
        raise ConflictError(msg, code=PROXY_USED)
    await session.delete(proxy)
    await session.flush()
    return proxy


# --- open, close, count -----------------------------------------------------------------------------


async def open_if_due(session: AsyncSession, ballot_id: int, *, now: datetime) -> bool:
    """Open a scheduled ballot whose window began; False when it is not (or no longer) due."""
    ballot = await _locked(session, ballot_id, share=False)
    if ballot.status != BallotStatus.SCHEDULED.value or ballot.opens_at > now:
        return False
    await _open(session, ballot, now)
    await session.flush()
    return True


async def close_if_due(session: AsyncSession, ballot_id: int, *, now: datetime) -> bool:
    """Close and count an open ballot whose window ended; False when it is not (or no longer) due."""
    ballot = await _locked(session, ballot_id, share=False)
    if ballot.status != BallotStatus.OPEN.value or ballot.closes_at > now:
        return False
    await _close(session, ballot, now)
    return True


async def remind_if_due(session: AsyncSession, ballot_id: int, *, now: datetime) -> bool:
    """Tell members an open ballot closes within a day (once per ballot)."""
    ballot = await session.get(Ballot, ballot_id)
    if ballot is None or ballot.status != BallotStatus.OPEN.value or not now < ballot.closes_at <= now + CLOSING_SOON:
        return False
    await notifications.record(
        session,
        event="ballot.closing_soon",
        audience=MEMBERS,
        data={"ballot_id": str(ballot.id), "title": ballot.title, "closes_at": ballot.closes_at.isoformat()},
        business_key=f"ballot:{ballot.id}:closing_soon",
    )
    return True


async def close_ballot(session: AsyncSession, ballot_id: int, *, now: datetime) -> BallotView:
    """Staff close a ballot now (before its window ends, or a scheduled one: nobody voted); 409 once closed."""
    ballot = await _locked(session, ballot_id, share=False)
    await _close(session, ballot, now)
    return await get_ballot(session, ballot_id)


async def _close(session: AsyncSession, ballot: Ballot, now: datetime) -> None:
    assert ballot.id is not None  # noqa: S101 - stored ballots have ids
    ballot.status = move_ballot(ballot.status, BallotEvent.CLOSE, ballot_id=ballot.id).value
    ballot.closed_at = now
    ballot.seal = None
    session.add(ballot)
    # Erasing the slots (and rewriting every row in this one transaction) leaves nothing that
    # joins a cast ballot to the roll.
    await session.execute(sa.update(CastBallot).where(col(CastBallot.ballot_id) == ballot.id).values(slot=None))
    result = await _count(session, ballot)
    session.add(BallotResult(ballot_id=ballot.id, result=result, computed_at=now))
    await session.flush()
    await notifications.record(
        session,
        event="ballot.result",
        audience=MEMBERS,
        data={"ballot_id": str(ballot.id), "title": ballot.title, **_summary(result)},
        business_key=f"ballot:{ballot.id}:result",
    )


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("quorum_met", "passed", "elected")
    return {k: result[k] for k in keys if result.get(k) is not None}


async def _count(session: AsyncSession, ballot: Ballot) -> dict[str, Any]:
    """The result document stored at close (the API's `result`)."""
    assert ballot.id is not None  # noqa: S101 - stored ballots have ids
    eligible = await eligible_count(session, ballot.record_date)
    turnout = await _meeting_turnout(session, ballot.id)
    cast = (
        await session.execute(
            sa.select(col(CastBallot.choice), col(CastBallot.ranking)).where(col(CastBallot.ballot_id) == ballot.id)
        )
    ).all()
    if ballot.kind == BallotKind.RESOLUTION.value:
        count = count_resolution(
            [Choice(c) for c, _ in cast if c is not None],
            eligible=eligible,
            quorum_rate=ballot.quorum_rate,
            threshold=Threshold(ballot.threshold or Threshold.MAJORITY),
            turnout=turnout,
        )
        return {
            "turnout": turnout,
            "eligible": count.eligible,
            "cast": count.cast,
            "quorum_needed": count.quorum_needed,
            "quorum_met": count.quorum_met,
            "passed": count.passed,
            "counts": {"yes": count.yes, "no": count.no, "abstain": count.abstain},
        }
    candidates = (
        await session.exec(select(BallotCandidate.id).where(col(BallotCandidate.ballot_id) == ballot.id))
    ).all()
    counter = count_stv if ballot.method == Method.STV.value else count_plurality
    election = counter(
        [list(r) for _, r in cast if r],
        candidates=[c for c in candidates if c is not None],
        seats=ballot.seats or 1,
        eligible=eligible,
        quorum_rate=ballot.quorum_rate,
        seed=lot_seed(ballot.id),
        turnout=turnout,
    )
    return {"turnout": turnout, **_election_document(election)}


async def _meeting_turnout(session: AsyncSession, ballot_id: int) -> int | None:
    """For a ballot on a meeting's agenda: the members who voted or attended (each once); else None.

    Who voted is the roll, never a choice, so this joins nothing secret.
    """
    meeting_id = (
        await session.exec(select(MeetingItem.meeting_id).where(col(MeetingItem.ballot_id) == ballot_id))
    ).first()
    if meeting_id is None:
        return None
    members = sa.union(
        sa.select(col(BallotVoter.member_id)).where(col(BallotVoter.ballot_id) == ballot_id),
        sa.select(col(MeetingAttendance.member_id)).where(col(MeetingAttendance.meeting_id) == meeting_id),
    ).subquery()
    return int((await session.execute(sa.select(sa.func.count()).select_from(members))).scalar_one())


def _election_document(count: ElectionCount) -> dict[str, Any]:
    return {
        "eligible": count.eligible,
        "cast": count.cast,
        "quorum_needed": count.quorum_needed,
        "quorum_met": count.quorum_met,
        "quota": count.quota,
        "elected": [str(c) for c in count.elected],
        "seed": str(count.seed),
        "rounds": [
            {
                "round": r.number,
                "quota": r.quota,
                "tallies": {str(c): str(v) for c, v in r.tallies.items()},
                "elected": [str(c) for c in r.elected],
                "eliminated": [str(c) for c in r.eliminated],
                "transfers": {str(c): str(v) for c, v in r.transfers.items()},
                "exhausted": str(r.exhausted),
                "tie": r.tie,
            }
            for r in count.rounds
        ],
    }


# --- publication ---------------------------------------------------------------------------------


async def published_ballots(session: AsyncSession, ballot_id: int) -> list[CastBallot]:
    """The cast ballots of a closed ballot, by receipt (random, so the order tells nothing); 409 before close."""
    ballot = await session.get(Ballot, ballot_id)
    if ballot is None:
        raise NotFoundError(f"ballot {ballot_id} not found")
    if ballot.status != BallotStatus.CLOSED.value:
        msg = f"ballot {ballot_id} is {ballot.status}; its ballots are published at close"
        raise ConflictError(msg, code=BALLOT_NOT_CLOSED)
    query = select(CastBallot).where(col(CastBallot.ballot_id) == ballot_id).order_by(col(CastBallot.receipt))
    return list((await session.exec(query)).all())


async def recorded_choices(session: AsyncSession, ballot_id: int) -> list[RecordedChoice]:
    """Who chose what on a ballot that is not secret, after close, by member number.

    409 `ballot_secret` for a secret ballot (nothing is recorded for one) and
    `ballot_not_closed` before close, so choices are never seen while votes may change.
    """
    ballot = await session.get(Ballot, ballot_id)
    if ballot is None:
        raise NotFoundError(f"ballot {ballot_id} not found")
    if ballot.secret:
        msg = f"ballot {ballot_id} is secret: who chose what is not recorded"
        raise ConflictError(msg, code=BALLOT_SECRET)
    if ballot.status != BallotStatus.CLOSED.value:
        msg = f"ballot {ballot_id} is {ballot.status}; its recorded votes are shown after close"
        raise ConflictError(msg, code=BALLOT_NOT_CLOSED)
    query = (
        sa.select(
            col(Member.id),
            col(Member.member_number),
            col(Member.name),
            col(RecordedVote.choice),
            col(RecordedVote.ranking),
        )
        .join(RecordedVote, col(RecordedVote.member_id) == col(Member.id))
        .where(col(RecordedVote.ballot_id) == ballot_id)
        .order_by(col(Member.member_number))
    )
    return [
        RecordedChoice(int(i), int(n), name, choice, None if ranking is None else list(ranking))
        for i, n, name, choice, ranking in (await session.execute(query)).all()
    ]


async def voter_roll(session: AsyncSession, ballot_id: int) -> list[RollEntry]:
    """The members eligible to vote (full on the record date), by member number."""
    ballot = await session.get(Ballot, ballot_id)
    if ballot is None:
        raise NotFoundError(f"ballot {ballot_id} not found")
    eligible = _eligible_query(ballot.record_date).subquery()
    query = (
        sa.select(col(Member.id), col(Member.member_number), col(Member.name), col(Member.email))
        .join(eligible, eligible.c.member_id == Member.id)
        .order_by(col(Member.member_number))
    )
    return [RollEntry(int(i), int(n), name, email) for i, n, name, email in (await session.execute(query)).all()]


# --- the clock --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockStep:
    """One thing the clock does to one ballot, in its own transaction."""

    name: str
    ballot_id: int


async def due_steps(session: AsyncSession, *, now: datetime) -> list[ClockStep]:
    """Open scheduled ballots whose window began, close open ones whose window ended, remind the rest."""
    due_open = (
        await session.exec(
            select(Ballot.id).where(col(Ballot.status) == BallotStatus.SCHEDULED.value, col(Ballot.opens_at) <= now)
        )
    ).all()
    open_ballots = (
        await session.exec(
            select(Ballot.id, Ballot.closes_at).where(
                col(Ballot.status) == BallotStatus.OPEN.value, col(Ballot.closes_at) <= now + CLOSING_SOON
            )
        )
    ).all()
    steps = [ClockStep("opened", b) for b in due_open if b is not None]
    steps += [
        ClockStep("closed" if closes_at <= now else "reminded", b) for b, closes_at in open_ballots if b is not None
    ]
    return steps


STEPS = {"opened": open_if_due, "closed": close_if_due, "reminded": remind_if_due}


def _cell(value: str) -> str:
    """Keep spreadsheet programs from running a member's name as a formula (CSV injection)."""
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


async def voter_roll_csv(session: AsyncSession, ballot_id: int) -> str:
    """The voter roll as CSV (RFC 4180, CRLF line ends) for an outside ballot service."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("member_id", "member_number", "name", "email"))
    for entry in await voter_roll(session, ballot_id):
        writer.writerow((entry.member_id, entry.member_number, _cell(entry.name), _cell(entry.email)))
    return out.getvalue()
