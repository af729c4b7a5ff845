"""What a closed ballot publishes: the cast ballots, recorded choices of an open vote, the voter roll."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.errors import ConflictError, NotFoundError
from domain.governance.ballots import BALLOT_NOT_CLOSED, BALLOT_SECRET, eligible_query
from domain.governance.rules import (
    BallotStatus,
)
from domain.governance.tables import (
    Ballot,
    CastBallot,
    RecordedVote,
)
from domain.governance.views import RecordedChoice, RollEntry
from domain.membership.tables import Member

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

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
    eligible = eligible_query(ballot.record_date).subquery()
    query = (
        sa.select(col(Member.id), col(Member.member_number), col(Member.name), col(Member.email))
        .join(eligible, eligible.c.member_id == Member.id)
        .order_by(col(Member.member_number))
    )
    return [RollEntry(int(i), int(n), name, email) for i, n, name, email in (await session.execute(query)).all()]


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
