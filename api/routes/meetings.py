"""General meetings: notice, agenda with ballots, attendance and quorum, minutes (API.md "Governance")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromPath, JSONBody

from api.auth import staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Day, Id, Moment, Rate, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import utc
from api.routes.ballots import Document
from domain.catalog.rules import rate_text
from domain.governance import meetings
from domain.governance.rules import (
    AttendanceMode,
    MeetingKind,
)
from domain.governance.views import MeetingView


class AgendaItemIn(msgspec.Struct, forbid_unknown_fields=True):
    """An agenda item; `ballot_id` puts a ballot (same record date, not closed) before the meeting."""

    title: Text
    ballot_id: Id | None = None


class NewMeetingIn(msgspec.Struct, forbid_unknown_fields=True):
    """A general meeting at least 14 days ahead (409 `notice_too_short`); members are sent the notice at once.

    `record_date` (default: the day before the notice) fixes who may attend and vote;
    `quorum_rate` is the share of those members who must attend. `petition_id`: the met
    petition for an EGM this EGM answers (the petition is then `scheduled`).
    """

    kind: MeetingKind
    title: Text
    starts_at: Moment
    quorum_rate: Rate
    agenda: Annotated[list[AgendaItemIn], msgspec.Meta(min_length=1, max_length=100)]
    record_date: Day | None = None
    petition_id: Id | None = None


class MeetingAttendanceIn(msgspec.Struct, forbid_unknown_fields=True):
    """A member present at the meeting, in the room or online."""

    member_id: Id
    mode: AttendanceMode


class MinutesIn(msgspec.Struct, forbid_unknown_fields=True):
    """The meeting's minutes (rewritable until approved)."""

    text: Document


class ApprovalIn(msgspec.Struct, forbid_unknown_fields=True):
    """The meeting approving the minutes: the next one, once it has begun."""

    at_meeting_id: Id


class AgendaItemOut(msgspec.Struct):
    """An agenda item, in order; `ballot_id` when it carries a ballot."""

    position: int
    title: str
    ballot_id: str | None


class AttendanceCountOut(msgspec.Struct):
    """Members present, by how they attend."""

    in_person: int
    online: int
    total: int


class MinutesOut(msgspec.Struct):
    """The minutes; `approved_at` once approved (then final), at `approved_at_meeting_id`."""

    text: str
    recorded_at: datetime
    approved_at: datetime | None
    approved_at_meeting_id: str | None


class MeetingOut(msgspec.Struct):
    """A meeting: `eligible` members (full on the record date), attendance and whether it has its quorum."""

    id: str
    kind: MeetingKind
    title: str
    starts_at: datetime
    record_date: date
    quorum_rate: str
    notice_sent_at: datetime
    agenda: list[AgendaItemOut]
    eligible: int
    attendance: AttendanceCountOut
    quorum_needed: int
    quorum_met: bool
    minutes: MinutesOut | None


class AttendanceOut(msgspec.Struct):
    """A recorded attendance."""

    meeting_id: str
    member_id: str
    mode: AttendanceMode
    recorded_at: datetime


def meeting_out(view: MeetingView) -> MeetingOut:
    """The public view of a meeting."""
    m, minutes = view.meeting, view.minutes
    return MeetingOut(
        id=str(m.id),
        kind=MeetingKind(m.kind),
        title=m.title,
        starts_at=m.starts_at,
        record_date=m.record_date,
        quorum_rate=rate_text(m.quorum_rate),
        notice_sent_at=m.notice_sent_at,
        agenda=[
            AgendaItemOut(i.position, i.title, None if i.ballot_id is None else str(i.ballot_id)) for i in view.agenda
        ],
        eligible=view.eligible,
        attendance=AttendanceCountOut(view.in_person, view.online, view.in_person + view.online),
        quorum_needed=view.quorum_needed,
        quorum_met=view.quorum_met,
        minutes=None
        if minutes is None
        else MinutesOut(
            text=minutes.text,
            recorded_at=minutes.recorded_at,
            approved_at=minutes.approved_at,
            approved_at_meeting_id=None
            if minutes.approved_at_meeting_id is None
            else str(minutes.approved_at_meeting_id),
        ),
    )


class MeetingController(Controller):
    """Routes under /v1/meetings: general meetings, their attendance and minutes (docs/governance.md)."""

    path = "/v1/meetings"
    tags = ["governance"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=staff_only, summary="Schedule a general meeting", responses=problems(*POSTED))
    async def create(self, data: JSONBody[NewMeetingIn], db: DbSession, caller: Caller) -> MeetingOut:
        """The notice goes to members (outbox) with the agenda; 409 `notice_too_short` under 14 days ahead."""
        now = datetime.now(UTC)
        new = meetings.NewMeeting(
            kind=data.kind,
            title=data.title,
            starts_at=utc(data.starts_at),
            record_date=data.record_date or now.date() - timedelta(days=1),
            quorum_rate=data.quorum_rate,
            agenda=tuple((i.title, None if i.ballot_id is None else int(i.ballot_id)) for i in data.agenda),
            petition_id=None if data.petition_id is None else int(data.petition_id),
        )
        meeting = await meetings.schedule_meeting(db, new, now=now, actor=caller.user_id)
        return meeting_out(await meetings.get_meeting(db, meeting.id or 0))

    @get("/", access=staff_or_members, summary="List meetings", responses=problems(400, *AUTHENTICATED))
    async def list_meetings(self, db: DbSession, limit: Limit = 50, cursor: Cursor = None) -> Page[MeetingOut]:
        """Oldest first."""
        views = await meetings.meeting_page(db, after_id=after_id(cursor), limit=limit)
        ids = [v.meeting.id for v in views if v.meeting.id is not None]
        return Page([meeting_out(v) for v in views], next_cursor(ids, limit))

    @get(
        "/{meeting_id:str}",
        access=staff_or_members,
        summary="One meeting",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, meeting_id: FromPath[str], db: DbSession) -> MeetingOut:
        """With its agenda, attendance toward the quorum and minutes."""
        return meeting_out(await meetings.get_meeting(db, path_id(meeting_id, "meeting")))

    @post(
        "/{meeting_id:str}/attendance",
        access=staff_only,
        summary="Record a member present",
        responses=problems(404, *POSTED),
    )
    async def attend(
        self, meeting_id: FromPath[str], data: JSONBody[MeetingAttendanceIn], db: DbSession, caller: Caller
    ) -> AttendanceOut:
        """Once the meeting has begun (409 `meeting_not_started`); one per member (409 `already_attending`).

        400 naming `member_id` for a member not full on the record date; 409 `minutes_approved` after approval.
        """
        row = await meetings.record_attendance(
            db,
            path_id(meeting_id, "meeting"),
            member_id=int(data.member_id),
            mode=data.mode,
            now=datetime.now(UTC),
            actor=caller.user_id,
        )
        return AttendanceOut(str(row.meeting_id), str(row.member_id), AttendanceMode(row.mode), row.recorded_at)

    @put(
        "/{meeting_id:str}/minutes",
        access=staff_only,
        summary="Record the minutes",
        responses=problems(404, *POSTED),
    )
    async def minutes(self, meeting_id: FromPath[str], data: JSONBody[MinutesIn], db: DbSession) -> MeetingOut:
        """Once the meeting has begun; rewritable until approved (409 `minutes_approved` after)."""
        view = await meetings.record_minutes(db, path_id(meeting_id, "meeting"), text=data.text, now=datetime.now(UTC))
        return meeting_out(view)

    @post(
        "/{meeting_id:str}/minutes/approval",
        status_code=200,
        access=staff_only,
        summary="Approve the minutes at the next meeting",
        responses=problems(404, *POSTED),
    )
    async def approve(self, meeting_id: FromPath[str], data: JSONBody[ApprovalIn], db: DbSession) -> MeetingOut:
        """At the next meeting once begun; then the minutes never change (409 `minutes_approved`).

        409 `no_minutes`, `not_the_next_meeting`, `meeting_not_started`.
        """
        view = await meetings.approve_minutes(
            db, path_id(meeting_id, "meeting"), at_meeting_id=int(data.at_meeting_id), now=datetime.now(UTC)
        )
        return meeting_out(view)
