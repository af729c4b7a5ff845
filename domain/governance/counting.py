"""Opening and closing ballots on time, counting once at the close, and the clock that drives them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from domain.governance.ballots import CLOSING_SOON, MEMBERS, eligible_count, get_ballot, locked_ballot, open_ballot
from domain.governance.rules import (
    BallotEvent,
    BallotKind,
    BallotStatus,
    Choice,
    ElectionCount,
    Method,
    Threshold,
    count_plurality,
    count_resolution,
    count_stv,
    lot_seed,
    move_ballot,
)
from domain.governance.tables import (
    Ballot,
    BallotCandidate,
    BallotResult,
    BallotVoter,
    CastBallot,
    MeetingAttendance,
    MeetingItem,
)
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.governance.views import BallotView

# --- open, close, count -----------------------------------------------------------------------------


async def open_if_due(session: AsyncSession, ballot_id: int, *, now: datetime) -> bool:
    """Open a scheduled ballot whose window began; False when it is not (or no longer) due."""
    ballot = await locked_ballot(session, ballot_id, share=False)
    if ballot.status != BallotStatus.SCHEDULED.value or ballot.opens_at > now:
        return False
    await open_ballot(session, ballot, now)
    await session.flush()
    return True


async def close_if_due(session: AsyncSession, ballot_id: int, *, now: datetime) -> bool:
    """Close and count an open ballot whose window ended; False when it is not (or no longer) due."""
    ballot = await locked_ballot(session, ballot_id, share=False)
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
    ballot = await locked_ballot(session, ballot_id, share=False)
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
