"""General meetings: notice, agenda (items may carry ballots), attendance toward the quorum, minutes.

The notice goes to members through the outbox in the transaction that schedules the
meeting, so it is sent only if the meeting is stored, and at least NOTICE_DAYS before it.
Attendance is one row per member (primary key), for members full on the record date.
Minutes may be rewritten until the next meeting approves them; from then on a trigger
refuses any change (migration 0022), as for ballot results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, FieldError, ForbiddenError, InvalidInputError, NotFoundError
from domain.governance.ballots import MEMBERS, eligible_count, was_full_on
from domain.governance.rules import (
    AttendanceMode,
    BallotStatus,
    MeetingKind,
    PetitionKind,
    PetitionStatus,
    check_attendance_time,
    check_minutes_approval,
    check_new_meeting,
    check_petition_for_meeting,
    check_petition_move,
    quorum_needed,
    signatures_needed,
)
from domain.governance.tables import (
    Ballot,
    Meeting,
    MeetingAttendance,
    MeetingItem,
    MeetingMinutes,
    Petition,
    PetitionSignature,
)
from domain.governance.views import MeetingView, PetitionView
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date, datetime
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

ALREADY_ATTENDING = "already_attending"
NO_MINUTES = "no_minutes"
ALREADY_SIGNED = "already_signed"
MEMBER_NOT_FULL = "member_not_full"
STAFF = "staff"  # notification audience: the co-op's staff


@dataclass(frozen=True, slots=True)
class NewMeeting:
    """What staff give to schedule a meeting; `agenda` is (title, ballot id or None) in order."""

    kind: MeetingKind
    title: str
    starts_at: datetime
    record_date: date
    quorum_rate: Decimal
    agenda: tuple[tuple[str, int | None], ...]
    petition_id: int | None = None


async def _check_agenda(session: AsyncSession, new: NewMeeting) -> None:
    """400 naming each agenda ballot that is unknown, closed, on another agenda or of another record date."""
    ids = sorted({b for _, b in new.agenda if b is not None})
    # Locked in id order, so two meetings claiming the same ballots queue instead of deadlocking.
    ballots = {
        b.id: b
        for b in (
            await session.exec(select(Ballot).where(col(Ballot.id).in_(ids)).order_by(col(Ballot.id)).with_for_update())
        ).all()
    }
    taken = set((await session.exec(select(MeetingItem.ballot_id).where(col(MeetingItem.ballot_id).in_(ids)))).all())
    errors: list[FieldError] = []
    seen: set[int] = set()
    for position, (_, ballot_id) in enumerate(new.agenda):
        if ballot_id is None:
            continue
        field = f"agenda[{position}].ballot_id"
        ballot = ballots.get(ballot_id)
        if ballot is None:
            errors.append(FieldError(field, "no such ballot"))
        elif ballot_id in taken or ballot_id in seen:
            errors.append(FieldError(field, "this ballot is on a meeting's agenda already"))
        elif ballot.status == BallotStatus.CLOSED.value:
            errors.append(FieldError(field, "this ballot is closed"))
        elif ballot.record_date != new.record_date:
            errors.append(FieldError(field, "the ballot's record date must be the meeting's"))
        seen.add(ballot_id)
    if errors:
        msg = "the agenda is not valid"
        raise InvalidInputError(msg, errors)


async def schedule_meeting(session: AsyncSession, new: NewMeeting, *, now: datetime, actor: int) -> Meeting:
    """Store the meeting and its agenda and send the notice (outbox); 409 `notice_too_short` with less notice.

    A ballot on the agenda must share the meeting's record date (one roll for the meeting
    and its votes), be still open or scheduled, and be on no other meeting's agenda.
    """
    check_new_meeting(starts_at=new.starts_at, record_date=new.record_date, quorum_rate=new.quorum_rate, now=now)
    await _check_agenda(session, new)
    petition = None
    if new.petition_id is not None:
        petition = await _locked_petition(session, new.petition_id, field="petition_id")
        check_petition_for_meeting(
            petition_kind=PetitionKind(petition.kind),
            status=PetitionStatus(petition.status),
            meeting_kind=new.kind.value,
            petition_id=petition.id,
        )
    meeting = Meeting(
        kind=new.kind.value,
        title=new.title,
        starts_at=new.starts_at,
        record_date=new.record_date,
        quorum_rate=new.quorum_rate,
        notice_sent_at=now,
        created_by=actor,
    )
    session.add(meeting)
    await session.flush()
    assert meeting.id is not None  # noqa: S101 - flushed rows have ids
    for position, (title, ballot_id) in enumerate(new.agenda):
        session.add(MeetingItem(meeting_id=meeting.id, position=position, title=title, ballot_id=ballot_id))
    if petition is not None:
        _move_petition(petition, PetitionStatus.SCHEDULED)
        petition.meeting_id = meeting.id
        session.add(petition)
    await session.flush()
    await notifications.record(
        session,
        event="meeting.notice",
        audience=MEMBERS,
        data={
            "meeting_id": str(meeting.id),
            "kind": meeting.kind,
            "title": meeting.title,
            "starts_at": meeting.starts_at.isoformat(),
            "agenda": [title for title, _ in new.agenda],
        },
        business_key=f"meeting:{meeting.id}:notice",
    )
    return meeting


async def _views(session: AsyncSession, meetings: Sequence[Meeting]) -> list[MeetingView]:
    ids = [m.id for m in meetings if m.id is not None]
    if not ids:
        return []
    items = (
        await session.exec(
            select(MeetingItem)
            .where(col(MeetingItem.meeting_id).in_(ids))
            .order_by(col(MeetingItem.meeting_id), col(MeetingItem.position))
        )
    ).all()
    present = (
        await session.execute(
            sa.select(col(MeetingAttendance.meeting_id), col(MeetingAttendance.mode), sa.func.count())
            .where(col(MeetingAttendance.meeting_id).in_(ids))
            .group_by(col(MeetingAttendance.meeting_id), col(MeetingAttendance.mode))
        )
    ).all()
    minutes = {
        m.meeting_id: m
        for m in (await session.exec(select(MeetingMinutes).where(col(MeetingMinutes.meeting_id).in_(ids)))).all()
    }
    rolls: dict[date, int] = {}
    views = []
    for meeting in meetings:
        if meeting.record_date not in rolls:
            rolls[meeting.record_date] = await eligible_count(session, meeting.record_date)
        eligible = rolls[meeting.record_date]
        modes = {AttendanceMode(mode): int(n) for m, mode, n in present if m == meeting.id}
        attending = sum(modes.values())
        needed = quorum_needed(eligible, meeting.quorum_rate)
        views.append(
            MeetingView(
                meeting=meeting,
                agenda=[i for i in items if i.meeting_id == meeting.id],
                eligible=eligible,
                in_person=modes.get(AttendanceMode.IN_PERSON, 0),
                online=modes.get(AttendanceMode.ONLINE, 0),
                quorum_needed=needed,
                quorum_met=attending >= needed,
                minutes=minutes.get(meeting.id or 0),
            )
        )
    return views


async def get_meeting(session: AsyncSession, meeting_id: int) -> MeetingView:
    """One meeting with its agenda, attendance, quorum and minutes (404 if unknown)."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFoundError(f"meeting {meeting_id} not found")
    return (await _views(session, [meeting]))[0]


async def meeting_page(session: AsyncSession, *, after_id: int, limit: int) -> list[MeetingView]:
    """Meetings in id order after a cursor."""
    query = select(Meeting).where(col(Meeting.id) > after_id).order_by(col(Meeting.id)).limit(limit)
    return await _views(session, (await session.exec(query)).all())


async def _locked(session: AsyncSession, meeting_id: int) -> Meeting:
    query = (
        select(Meeting).where(col(Meeting.id) == meeting_id).with_for_update().execution_options(populate_existing=True)
    )
    meeting = (await session.exec(query)).one_or_none()
    if meeting is None:
        raise NotFoundError(f"meeting {meeting_id} not found")
    return meeting


async def _approved(session: AsyncSession, meeting_id: int) -> bool:
    minutes = await session.get(MeetingMinutes, meeting_id)
    return minutes is not None and minutes.approved_at is not None


async def record_attendance(
    session: AsyncSession, meeting_id: int, *, member_id: int, mode: AttendanceMode, now: datetime, actor: int
) -> MeetingAttendance:
    """A member present (in person or online) once the meeting has begun: one row per member.

    400 naming `member_id` for a member not full on the record date; 409 `already_attending`
    for a second record, `meeting_not_started` before the start, `minutes_approved` after.
    """
    meeting = await _locked(session, meeting_id)
    check_attendance_time(starts_at=meeting.starts_at, now=now, minutes_approved=await _approved(session, meeting_id))
    if not await was_full_on(session, member_id, meeting.record_date):
        msg = f"member {member_id} was not a full member on the record date {meeting.record_date}"
        raise InvalidInputError(msg, [FieldError("member_id", "was not a full member on the record date")])
    row = MeetingAttendance(
        meeting_id=meeting_id, member_id=member_id, mode=mode.value, recorded_at=now, recorded_by=actor
    )
    inserted = await session.execute(
        insert(MeetingAttendance)
        .values(meeting_id=meeting_id, member_id=member_id, mode=mode.value, recorded_at=now, recorded_by=actor)
        .on_conflict_do_nothing()
        .returning(col(MeetingAttendance.member_id))
    )
    if inserted.first() is None:
        msg = f"member {member_id}'s attendance at meeting {meeting_id} is recorded already"
        raise ConflictError(msg, code=ALREADY_ATTENDING)
    return row


async def record_minutes(session: AsyncSession, meeting_id: int, *, text: str, now: datetime) -> MeetingView:
    """Record (or rewrite) a meeting's minutes once it has begun; 409 `minutes_approved` once approved."""
    meeting = await _locked(session, meeting_id)
    minutes = await session.get(MeetingMinutes, meeting_id, with_for_update=True, populate_existing=True)
    check_attendance_time(
        starts_at=meeting.starts_at, now=now, minutes_approved=minutes is not None and minutes.approved_at is not None
    )
    if minutes is None:
        minutes = MeetingMinutes(meeting_id=meeting_id, text=text, recorded_at=now)
    else:
        minutes.text, minutes.recorded_at = text, now
    session.add(minutes)
    await session.flush()
    return await get_meeting(session, meeting_id)


async def approve_minutes(session: AsyncSession, meeting_id: int, *, at_meeting_id: int, now: datetime) -> MeetingView:
    """The next meeting approves a meeting's minutes, once it has begun; from then on they never change.

    409 `no_minutes` before any are recorded, `minutes_approved` the second time,
    `not_the_next_meeting` when `at_meeting_id` is not the first meeting after this one,
    `meeting_not_started` before that meeting begins.
    """
    meeting = await _locked(session, meeting_id)
    approving = await session.get(Meeting, at_meeting_id)
    if approving is None:
        msg = f"meeting {at_meeting_id} not found"
        raise InvalidInputError(msg, [FieldError("at_meeting_id", "no such meeting")])
    minutes = await session.get(MeetingMinutes, meeting_id, with_for_update=True, populate_existing=True)
    if minutes is None:
        msg = f"meeting {meeting_id} has no minutes to approve"
        raise ConflictError(msg, code=NO_MINUTES)
    next_starts_at = (
        await session.execute(
            sa.select(sa.func.min(col(Meeting.starts_at))).where(col(Meeting.starts_at) > meeting.starts_at)
        )
    ).scalar_one_or_none()
    check_minutes_approval(
        approving_starts_at=approving.starts_at,
        next_starts_at=next_starts_at,
        now=now,
        approved=minutes.approved_at is not None,
    )
    minutes.approved_at, minutes.approved_at_meeting_id = now, at_meeting_id
    session.add(minutes)
    await session.flush()
    return await get_meeting(session, meeting_id)


# --- petitions ---------------------------------------------------------------------------------


async def _full_now(session: AsyncSession, member_id: int) -> None:
    """403 `member_not_full` unless the member is full now; its row is held (FOR SHARE) so that stays true."""
    status = (
        await session.exec(select(Member.status).where(col(Member.id) == member_id).with_for_update(read=True))
    ).first()
    if status != Status.FULL.value:
        msg = f"member {member_id} is not a full member; only full members open and sign petitions"
        raise ForbiddenError(msg, code=MEMBER_NOT_FULL)


async def _locked_petition(session: AsyncSession, petition_id: int, *, field: str | None = None) -> Petition:
    query = (
        select(Petition)
        .where(col(Petition.id) == petition_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    petition = (await session.exec(query)).one_or_none()
    if petition is None:
        msg = f"petition {petition_id} not found"
        if field is not None:
            raise InvalidInputError(msg, [FieldError(field, "no such petition")])
        raise NotFoundError(msg)
    return petition


def _move_petition(petition: Petition, target: PetitionStatus) -> None:
    """Every change of a petition's status goes through its table (rules.PETITION_TRANSITIONS)."""
    check_petition_move(PetitionStatus(petition.status), target, petition_id=petition.id)
    petition.status = target.value


async def _full_members(session: AsyncSession) -> int:
    query = sa.select(sa.func.count()).where(col(Member.status) == Status.FULL.value)
    return int((await session.execute(query)).scalar_one())


async def open_petition(
    session: AsyncSession, *, kind: PetitionKind, text: str, member_id: int, user_id: int, now: datetime
) -> PetitionView:
    """A full member's admin opens a petition; the member's own signature is its first."""
    await _full_now(session, member_id)
    petition = Petition(
        kind=kind.value, text=text, status=PetitionStatus.OPEN.value, opened_by_member_id=member_id, created_at=now
    )
    session.add(petition)
    await session.flush()
    assert petition.id is not None  # noqa: S101 - flushed rows have ids
    return await sign_petition(session, petition.id, member_id=member_id, user_id=user_id, now=now)


async def sign_petition(
    session: AsyncSession, petition_id: int, *, member_id: int, user_id: int, now: datetime
) -> PetitionView:
    """A full member signs once (409 `already_signed`); at CEIL(10 % of full members) the petition is met.

    The petition's row lock serializes signatures, so the count that decides `met` is exact
    and the staff notice (`petition.met`, outbox) is recorded once.
    """
    petition = await _locked_petition(session, petition_id)
    await _full_now(session, member_id)
    signed = await session.execute(
        insert(PetitionSignature)
        .values(petition_id=petition_id, member_id=member_id, signed_at=now, signed_by=user_id)
        .on_conflict_do_nothing()
        .returning(col(PetitionSignature.member_id))
    )
    if signed.first() is None:
        msg = f"member {member_id} has signed petition {petition_id} already"
        raise ConflictError(msg, code=ALREADY_SIGNED)
    signatures = await _signatures(session, petition_id)
    needed = signatures_needed(await _full_members(session))
    if petition.status == PetitionStatus.OPEN.value and signatures >= needed:
        _move_petition(petition, PetitionStatus.MET)
        petition.met_at, petition.needed_at_met = now, needed
        session.add(petition)
        await session.flush()
        await notifications.record(
            session,
            event="petition.met",
            audience=STAFF,
            data={
                "petition_id": str(petition_id),
                "kind": petition.kind,
                "signatures": signatures,
                "needed": needed,
                "egm_required": petition.kind == PetitionKind.EGM.value,
            },
            business_key=f"petition:{petition_id}:met",
        )
    return _petition_view(petition, signatures, petition.needed_at_met or needed)


async def _signatures(session: AsyncSession, petition_id: int) -> int:
    query = sa.select(sa.func.count()).where(col(PetitionSignature.petition_id) == petition_id)
    return int((await session.execute(query)).scalar_one())


def _petition_view(petition: Petition, signatures: int, needed: int) -> PetitionView:
    assert petition.id is not None  # noqa: S101 - stored rows have ids
    return PetitionView(
        id=petition.id,
        kind=petition.kind,
        text=petition.text,
        status=petition.status,
        opened_by_member_id=petition.opened_by_member_id,
        created_at=petition.created_at,
        signatures=signatures,
        needed=needed,
        met_at=petition.met_at,
        meeting_id=petition.meeting_id,
    )


async def petition_page(session: AsyncSession, *, after_id: int, limit: int) -> list[PetitionView]:
    """Petitions in id order after a cursor, with their signatures and the number they need."""
    petitions = (
        await session.exec(select(Petition).where(col(Petition.id) > after_id).order_by(col(Petition.id)).limit(limit))
    ).all()
    ids = [p.id for p in petitions if p.id is not None]
    counts: dict[int, int] = dict(
        (
            await session.execute(
                sa.select(col(PetitionSignature.petition_id), sa.func.count())
                .where(col(PetitionSignature.petition_id).in_(ids))
                .group_by(col(PetitionSignature.petition_id))
            )
        ).all()
    )
    needed = signatures_needed(await _full_members(session)) if petitions else 0
    return [_petition_view(p, counts.get(p.id or 0, 0), p.needed_at_met or needed) for p in petitions]


async def get_petition(session: AsyncSession, petition_id: int) -> PetitionView:
    """One petition (404 if unknown)."""
    petition = await session.get(Petition, petition_id)
    if petition is None:
        raise NotFoundError(f"petition {petition_id} not found")
    needed = petition.needed_at_met or signatures_needed(await _full_members(session))
    return _petition_view(petition, await _signatures(session, petition_id), needed)
