"""Ballots: resolutions and board elections, votes in secret, results and receipts (API.md "Governance").

Who may do what: staff create, close and export the voter roll; staff and members read
ballots and, after close, the published ballots (receipt and choice, never a member); a
member's admin users vote for their member. docs/governance.md has the rules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Principal, members_only, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Day, Id, Moment, Rate, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import utc
from domain.catalog.rules import rate_text
from domain.errors import ForbiddenError
from domain.governance import ballots, counting, publication, votes
from domain.governance.rules import (
    BallotKind,
    BallotStatus,
    Choice,
    Method,
    Threshold,
)
from domain.governance.views import BallotView, CastBallotRow, ProxyRow
from domain.identity.rules import MemberRole

Seats = Annotated[int, msgspec.Meta(ge=1, le=100)]
Document = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=20_000, pattern=r"^[^\x00]*\S[^\x00]*$", description="free text, not blank, no NUL"
    ),
]


def voting_member(caller: Principal) -> int:
    """The member a user votes for: only its admin users cast its vote (403 for buyers and finance users)."""
    if caller.member_id is None or caller.member_role is not MemberRole.ADMIN:
        raise ForbiddenError("only a member's admin users may cast its vote")
    return caller.member_id


class CandidateIn(msgspec.Struct, forbid_unknown_fields=True):
    """A candidate standing in an election."""

    name: Text


class NewBallotIn(msgspec.Struct, forbid_unknown_fields=True):
    """A resolution (`threshold`, default majority) or an election (`seats`, `candidates`, `method`, default stv).

    The voters are the members who were full at the end of `record_date`, which must be
    before the day the ballot opens (default: the day before); `opens_at` defaults to now;
    `quorum_rate` is a share of the voters, from 0 to 1. Proxies are off unless
    `proxy_cap` is set: the most proxies one member may hold for this ballot.
    """

    title: Text
    kind: BallotKind
    closes_at: Moment
    quorum_rate: Rate
    record_date: Day | None = None
    opens_at: Moment | None = None
    secret: bool = True
    proxy_cap: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    threshold: Threshold | None = None
    seats: Seats | None = None
    method: Method | None = None
    candidates: Annotated[list[CandidateIn], msgspec.Meta(min_length=1, max_length=200)] | None = None


class VoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A resolution takes `choice`; an election takes `ranking` (candidate ids, first preference first).

    `for_member_id`: vote as the proxy of that member (it appointed the caller's member).
    """

    choice: Choice | None = None
    ranking: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=200)] | None = None
    for_member_id: Id | None = None


class ProxyIn(msgspec.Struct, forbid_unknown_fields=True):
    """The member that is to vote for the caller's member on this ballot."""

    holder_member_id: Id


class ProxyOut(msgspec.Struct):
    """A proxy: `holder_member_id` votes for `grantor_member_id` on this ballot."""

    ballot_id: str
    grantor_member_id: str
    holder_member_id: str
    created_at: datetime
    used_at: datetime | None


class CandidateOut(msgspec.Struct):
    """A candidate of an election."""

    id: str
    name: str


class CountsOut(msgspec.Struct):
    """Votes for, against and abstaining."""

    yes: int
    no: int
    abstain: int


class RoundOut(msgspec.Struct):
    """One round of a count: tallies at its start (exact fractions as text, e.g. "9/2"), then what it did.

    `transfers` is the vote value each candidate received in this round and `exhausted`
    what no continuing candidate could take; `tie` says how a tie was broken, if one was.
    """

    round: int
    quota: int | None
    tallies: dict[str, str]
    elected: list[str]
    eliminated: list[str]
    transfers: dict[str, str]
    exhausted: str
    tie: str | None


class ResultOut(msgspec.Struct):
    """The count stored at close. Resolutions: `passed` and `counts`; elections: `elected`, `quota`, `rounds`.

    `turnout`, for a ballot on a meeting's agenda only: the members counted toward its
    quorum, those who voted and those present at the meeting, each once.
    """

    quorum_met: bool
    quorum_needed: int
    eligible: int
    cast: int
    passed: bool | None = None
    counts: CountsOut | None = None
    elected: list[str] | None = None
    quota: int | None = None
    rounds: list[RoundOut] | None = None
    seed: str | None = None
    turnout: int | None = None


class BallotOut(msgspec.Struct):
    """A ballot; `eligible` is the size of its voter roll, `cast` the ballots counted so far."""

    id: str
    title: str
    kind: BallotKind
    status: BallotStatus
    record_date: date
    opens_at: datetime
    closes_at: datetime
    quorum_rate: str
    secret: bool
    proxy_cap: int | None
    threshold: Threshold | None
    seats: int | None
    method: Method | None
    candidates: list[CandidateOut]
    eligible: int
    cast: int
    result: ResultOut | None
    opened_at: datetime | None
    closed_at: datetime | None


class RecordedChoiceOut(msgspec.Struct):
    """A member's choice on a ballot that is not secret (`secret: false`)."""

    member_id: str
    member_number: int
    name: str
    choice: Choice | None
    ranking: list[str] | None


class ReceiptOut(msgspec.Struct):
    """The random code that identifies this ballot in the published list after close."""

    receipt: str


class PublishedBallotOut(msgspec.Struct):
    """A cast ballot as published after close: its receipt and what was chosen, never who chose it."""

    receipt: str
    choice: Choice | None
    ranking: list[str] | None


def _result_out(result: dict[str, Any] | None) -> ResultOut | None:
    if result is None:
        return None
    return msgspec.convert(result, ResultOut)


def ballot_out(view: BallotView) -> BallotOut:
    """The public view of a ballot."""
    b = view.ballot
    return BallotOut(
        id=str(b.id),
        title=b.title,
        kind=BallotKind(b.kind),
        status=BallotStatus(b.status),
        record_date=b.record_date,
        opens_at=b.opens_at,
        closes_at=b.closes_at,
        quorum_rate=rate_text(b.quorum_rate),
        secret=b.secret,
        proxy_cap=b.proxy_cap,
        threshold=None if b.threshold is None else Threshold(b.threshold),
        seats=b.seats,
        method=None if b.method is None else Method(b.method),
        candidates=[CandidateOut(str(c.id), c.name) for c in view.candidates],
        eligible=view.eligible,
        cast=view.cast,
        result=_result_out(view.result),
        opened_at=b.opened_at,
        closed_at=b.closed_at,
    )


def proxy_out(proxy: ProxyRow) -> ProxyOut:
    """A proxy appointment."""
    return ProxyOut(
        ballot_id=str(proxy.ballot_id),
        grantor_member_id=str(proxy.grantor_member_id),
        holder_member_id=str(proxy.holder_member_id),
        created_at=proxy.created_at,
        used_at=proxy.used_at,
    )


def _published(row: CastBallotRow) -> PublishedBallotOut:
    return PublishedBallotOut(
        receipt=row.receipt,
        choice=None if row.choice is None else Choice(row.choice),
        ranking=None if row.ranking is None else [str(c) for c in row.ranking],
    )


class BallotController(Controller):
    """Routes under /v1/ballots."""

    path = "/v1/ballots"
    tags = ["governance"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=staff_only, summary="Create a ballot", responses=problems(*POSTED))
    async def create(self, data: JSONBody[NewBallotIn], db: DbSession, caller: Caller) -> BallotOut:
        """Open at once when `opens_at` has passed, else `scheduled`; the clock opens and closes it on time."""
        now = datetime.now(UTC)
        opens_at = now if data.opens_at is None else utc(data.opens_at)
        new = ballots.NewBallot(
            title=data.title,
            kind=data.kind,
            record_date=data.record_date or opens_at.date() - timedelta(days=1),
            opens_at=opens_at,
            closes_at=utc(data.closes_at),
            quorum_rate=data.quorum_rate,
            secret=data.secret,
            proxy_cap=data.proxy_cap,
            threshold=data.threshold,
            seats=data.seats,
            method=data.method,
            candidates=None if data.candidates is None else tuple(c.name for c in data.candidates),
        )
        ballot = await ballots.create_ballot(db, new, now=now, actor=caller.user_id)
        return ballot_out(await ballots.get_ballot(db, ballot.id or 0))

    @get("/", access=staff_or_members, summary="List ballots", responses=problems(400, *AUTHENTICATED))
    async def list_ballots(
        self,
        db: DbSession,
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[BallotStatus | None, Parameter(description="only ballots in this status")] = None,
    ) -> Page[BallotOut]:
        """Oldest first; with `result` once closed."""
        views = await ballots.ballot_page(db, after_id=after_id(cursor), limit=limit, status=status)
        ids = [v.ballot.id for v in views if v.ballot.id is not None]
        return Page([ballot_out(v) for v in views], next_cursor(ids, limit))

    @get(
        "/{ballot_id:str}",
        access=staff_or_members,
        summary="One ballot",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, ballot_id: FromPath[str], db: DbSession) -> BallotOut:
        """With `result` (and for an election every round of the count) once closed."""
        return ballot_out(await ballots.get_ballot(db, path_id(ballot_id, "ballot")))

    @post(
        "/{ballot_id:str}/votes",
        access=members_only,
        summary="Cast the member's vote",
        responses=problems(404, *POSTED),
    )
    async def vote(self, ballot_id: FromPath[str], data: JSONBody[VoteIn], db: DbSession, caller: Caller) -> ReceiptOut:
        """A member's admin user votes for the member while the ballot is open; answers a random receipt.

        403 `not_on_voter_roll` when the member was not full on the record date; 409
        `ballot_not_open` outside the window. Voting again replaces the member's ballot
        (with a new receipt) until close: a member's vote is counted once.
        """
        receipt = await votes.cast_vote(
            db,
            path_id(ballot_id, "ballot"),
            member_id=voting_member(caller),
            choice=data.choice,
            ranking=None if data.ranking is None else [int(c) for c in data.ranking],
            now=datetime.now(UTC),
            for_member_id=None if data.for_member_id is None else int(data.for_member_id),
        )
        return ReceiptOut(receipt)

    @post(
        "/{ballot_id:str}/proxies",
        access=members_only,
        summary="Appoint a proxy for the member",
        responses=problems(404, *POSTED),
    )
    async def appoint_proxy(
        self, ballot_id: FromPath[str], data: JSONBody[ProxyIn], db: DbSession, caller: Caller
    ) -> ProxyOut:
        """A member's admin appoints another full member to vote for it on this ballot (if the ballot allows).

        409 `proxies_not_allowed`, `proxy_cap_reached`, `proxy_exists`, `already_voted`; 403
        `not_on_voter_roll`; 400 naming `holder_member_id` for itself or a member not on the roll.
        """
        proxy = await votes.appoint_proxy(
            db,
            path_id(ballot_id, "ballot"),
            grantor=voting_member(caller),
            holder=int(data.holder_member_id),
            now=datetime.now(UTC),
        )
        return proxy_out(proxy)

    @delete(
        "/{ballot_id:str}/proxies",
        status_code=200,
        access=members_only,
        summary="Revoke the member's proxy",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def revoke_proxy(self, ballot_id: FromPath[str], db: DbSession, caller: Caller) -> ProxyOut:
        """A member's admin takes back its member's appointment before the holder votes under it.

        404 `no_proxy` without one; 409 `proxy_used` once used, `ballot_not_open` after close.
        """
        proxy = await votes.revoke_proxy(
            db, path_id(ballot_id, "ballot"), grantor=voting_member(caller), now=datetime.now(UTC)
        )
        return proxy_out(proxy)

    @post(
        "/{ballot_id:str}/close",
        status_code=200,
        access=staff_only,
        summary="Close and count the ballot now",
        responses=problems(400, 404, 401, 403, 409, 422),
    )
    async def close(self, ballot_id: FromPath[str], db: DbSession) -> BallotOut:
        """Synchronous (200): the ballot with its `result`; a closed ballot is a 409 (`ballot_transition_refused`)."""
        return ballot_out(await counting.close_ballot(db, path_id(ballot_id, "ballot"), now=datetime.now(UTC)))

    @get(
        "/{ballot_id:str}/ballots",
        access=staff_or_members,
        summary="The published ballots",
        responses=problems(400, 404, 409, *AUTHENTICATED),
    )
    async def ballots(self, ballot_id: FromPath[str], db: DbSession) -> Page[PublishedBallotOut]:
        """After close (409 `ballot_not_closed` before): every counted ballot by receipt, never a member.

        A member finds its receipt with its choice; the list is ordered by receipt, which is
        random, so the order tells nothing about when or by whom a ballot was cast.
        """
        rows = await publication.published_ballots(db, path_id(ballot_id, "ballot"))
        return Page([_published(r) for r in rows], None)

    @get(
        "/{ballot_id:str}/choices",
        access=staff_or_members,
        summary="Who chose what (ballots that are not secret)",
        responses=problems(400, 404, 409, *AUTHENTICATED),
    )
    async def choices(self, ballot_id: FromPath[str], db: DbSession) -> Page[RecordedChoiceOut]:
        """After close, for a ballot created with `secret: false`: each member's choice, by member number.

        409 `ballot_secret` for a secret ballot (no route shows who chose what on one), 409
        `ballot_not_closed` before close.
        """
        rows = await publication.recorded_choices(db, path_id(ballot_id, "ballot"))
        return Page(
            [
                RecordedChoiceOut(
                    member_id=str(r.member_id),
                    member_number=r.member_number,
                    name=r.name,
                    choice=None if r.choice is None else Choice(r.choice),
                    ranking=None if r.ranking is None else [str(c) for c in r.ranking],
                )
                for r in rows
            ],
            None,
        )

    @get(
        "/{ballot_id:str}/voter-roll",
        access=staff_only,
        summary="Voter roll (CSV)",
        media_type="text/csv",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def voter_roll(self, ballot_id: FromPath[str], db: DbSession) -> Response[str]:
        """CSV (`text/csv`) of the members eligible to vote (full on the record date), by member number."""
        found = path_id(ballot_id, "ballot")
        body = await publication.voter_roll_csv(db, found)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="ballot-{found}-voter-roll.csv"'},
        )
