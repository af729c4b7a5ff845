"""Members' petitions for an extraordinary meeting or a bylaw amendment (API.md "Governance")."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from api.auth import members_only, staff_or_members
from api.deps import Caller, DbSession
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.routes.ballots import Document, voting_member
from domain.governance import meetings
from domain.governance.rules import (
    PetitionKind,
    PetitionStatus,
)
from domain.governance.views import PetitionView


class NewPetitionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A petition for an EGM or a bylaw amendment, with its text."""

    kind: PetitionKind
    text: Document


class PetitionOut(msgspec.Struct):
    """A petition: `met` once `signatures` reach `needed` (CEIL 10 % of full members, fixed when met).

    `egm_required`: a met petition for an EGM that staff have yet to answer by scheduling
    one (`POST /v1/meetings` with its `petition_id`; the status is then `scheduled`).
    """

    id: str
    kind: PetitionKind
    text: str
    status: PetitionStatus
    opened_by_member_id: str
    created_at: datetime
    signatures: int
    needed: int
    met_at: datetime | None
    meeting_id: str | None
    egm_required: bool


def petition_out(view: PetitionView) -> PetitionOut:
    """The public view of a petition."""
    status = PetitionStatus(view.status)
    return PetitionOut(
        id=str(view.id),
        kind=PetitionKind(view.kind),
        text=view.text,
        status=status,
        opened_by_member_id=str(view.opened_by_member_id),
        created_at=view.created_at,
        signatures=view.signatures,
        needed=view.needed,
        met_at=view.met_at,
        meeting_id=None if view.meeting_id is None else str(view.meeting_id),
        egm_required=status is PetitionStatus.MET and view.kind == PetitionKind.EGM.value,
    )


class PetitionController(Controller):
    """Routes under /v1/petitions: full members ask for an EGM or a bylaw amendment (docs/governance.md)."""

    path = "/v1/petitions"
    tags = ["governance"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=members_only, summary="Open a petition", responses=problems(*POSTED))
    async def create(self, data: JSONBody[NewPetitionIn], db: DbSession, caller: Caller) -> PetitionOut:
        """A full member's admin opens it; the member's signature is the first (403 `member_not_full`)."""
        view = await meetings.open_petition(
            db,
            kind=data.kind,
            text=data.text,
            member_id=voting_member(caller),
            user_id=caller.user_id,
            now=datetime.now(UTC),
        )
        return petition_out(view)

    @get("/", access=staff_or_members, summary="List petitions", responses=problems(400, *AUTHENTICATED))
    async def list_petitions(self, db: DbSession, limit: Limit = 50, cursor: Cursor = None) -> Page[PetitionOut]:
        """Oldest first, with signatures and the number needed."""
        views = await meetings.petition_page(db, after_id=after_id(cursor), limit=limit)
        return Page([petition_out(v) for v in views], next_cursor([v.id for v in views], limit))

    @get(
        "/{petition_id:str}",
        access=staff_or_members,
        summary="One petition",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, petition_id: FromPath[str], db: DbSession) -> PetitionOut:
        """With its status (`egm_required` while a met EGM petition awaits its meeting)."""
        return petition_out(await meetings.get_petition(db, path_id(petition_id, "petition")))

    @post(
        "/{petition_id:str}/signatures",
        access=members_only,
        summary="Sign a petition for the member",
        responses=problems(404, *POSTED),
    )
    async def sign(self, petition_id: FromPath[str], db: DbSession, caller: Caller) -> PetitionOut:
        """A full member's admin signs once for the member (409 `already_signed`; 403 `member_not_full`).

        When the signatures reach the number needed the petition is `met` and staff are told.
        """
        view = await meetings.sign_petition(
            db,
            path_id(petition_id, "petition"),
            member_id=voting_member(caller),
            user_id=caller.user_id,
            now=datetime.now(UTC),
        )
        return petition_out(view)
