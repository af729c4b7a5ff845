"""Votes and proxies: cast in secret while the ballot is open, a proxy appointed or revoked until it is used."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, FieldError, ForbiddenError, InvalidInputError, NotFoundError
from domain.governance.ballots import (
    ALREADY_VOTED,
    BALLOT_NOT_OPEN,
    NO_PROXY,
    NOT_ON_VOTER_ROLL,
    PROXY_EXISTS,
    PROXY_USED,
    locked_ballot,
    was_full_on,
)
from domain.governance.rules import (
    BallotKind,
    BallotStatus,
    Choice,
    Method,
    check_proxy,
    check_vote,
)
from domain.governance.tables import (
    BallotCandidate,
    BallotProxy,
    BallotVoter,
    CastBallot,
    RecordedVote,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

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
    ballot = await locked_ballot(session, ballot_id, share=True)
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
    ballot = await locked_ballot(session, ballot_id, share=False)
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
    ballot = await locked_ballot(session, ballot_id, share=True)
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
