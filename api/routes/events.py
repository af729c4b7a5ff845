"""Member network events: proposals staff approve, registrations with fees and a waitlist, attendance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Response, get, post, put
from litestar.params import FromPath, JSONBody

from api.auth import Principal, members_only, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Cents, Email, LongText, Moment, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import utc
from api.routes.directory import Description
from api.routes.offers import acting_member
from domain.identity.rules import Role
from domain.network import events
from domain.network.rules import (
    Attendance,
    Audience,
    CalendarEvent,
    EventStatus,
    Guest,
    NewEvent,
    render_calendar,
)
from domain.network.views import EventView, RegistrationView


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    """An event; `cancellation_deadline` (default: the start) closes cancellations and refunds."""

    title: Text
    starts_at: Moment
    ends_at: Moment
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    member_price_cents: Cents
    nonmember_price_cents: Cents
    description: Description = ""
    place: LongText | None = None
    online_url: LongText | None = None
    cancellation_deadline: Moment | None = None


class EventOut(msgspec.Struct):
    """An event with its seats: `taken` confirmed attendees of `capacity`."""

    id: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    cancellation_deadline: datetime
    place: str | None
    online_url: str | None
    capacity: int
    taken: int
    member_price_cents: int
    nonmember_price_cents: int
    status: Literal["proposed", "published", "declined"]
    proposed_by_member_id: str | None


class AttendeeIn(msgspec.Struct, forbid_unknown_fields=True):
    """One person coming."""

    name: Text
    email: Email


class AttendeeOut(msgspec.Struct):
    """One person coming."""

    name: str
    email: str


class RegistrationIn(msgspec.Struct, forbid_unknown_fields=True):
    """The business's people; all get seats or the registration waits whole."""

    attendees: Annotated[list[AttendeeIn], msgspec.Meta(min_length=1, max_length=50)]


class RegistrationOut(msgspec.Struct):
    """A registration: `confirmed` (charged `fee_cents`), `waitlisted` or `cancelled`.

    A non-member's (`member_id` null, with its `organisation`) is charged to no trade account:
    while confirmed, its fee is `fee_owed_cents`, collected by staff outside the ledger.
    """

    id: str
    event_id: str
    member_id: str | None
    organisation: str | None
    status: Literal["confirmed", "waitlisted", "cancelled"]
    attendees: list[AttendeeOut]
    fee_cents: int
    fee_owed_cents: int
    registered_at: datetime
    cancelled_at: datetime | None
    attendance: Literal["attended", "no_show"] | None


class GuestIn(msgspec.Struct, forbid_unknown_fields=True):
    """One non-member coming, with their organisation."""

    name: Text
    email: Email
    organisation: Text


class EventAttendanceIn(msgspec.Struct, forbid_unknown_fields=True):
    """What staff saw at the event."""

    attendance: Literal["attended", "no_show"]


def _event_out(view: EventView) -> EventOut:
    return EventOut(
        id=str(view.id),
        title=view.title,
        description=view.description,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        cancellation_deadline=view.cancellation_deadline,
        place=view.place,
        online_url=view.online_url,
        capacity=view.capacity,
        taken=view.taken,
        member_price_cents=view.member_price_cents,
        nonmember_price_cents=view.nonmember_price_cents,
        status=view.status,  # type: ignore[arg-type]  # one of EventStatus, checked by the table
        proposed_by_member_id=None if view.proposed_by_member_id is None else str(view.proposed_by_member_id),
    )


def _registration_out(view: RegistrationView) -> RegistrationOut:
    return RegistrationOut(
        id=str(view.id),
        event_id=str(view.event_id),
        member_id=None if view.member_id is None else str(view.member_id),
        organisation=view.organisation,
        status=view.status,  # type: ignore[arg-type]  # one of RegistrationStatus, checked by the table
        attendees=[AttendeeOut(name, email) for name, email in view.attendees],
        fee_cents=view.fee_cents,
        fee_owed_cents=view.fee_owed_cents,
        registered_at=view.registered_at,
        cancelled_at=view.cancelled_at,
        attendance=view.attendance,  # type: ignore[arg-type]  # one of Attendance, checked by the table
    )


def _new_event(data: EventIn) -> NewEvent:
    return NewEvent(
        title=data.title,
        description=data.description,
        starts_at=utc(data.starts_at),
        ends_at=utc(data.ends_at),
        place=data.place,
        online_url=data.online_url,
        capacity=data.capacity,
        member_price_cents=data.member_price_cents,
        nonmember_price_cents=data.nonmember_price_cents,
        cancellation_deadline=None if data.cancellation_deadline is None else utc(data.cancellation_deadline),
    )


@post(
    "/v1/events",
    access=staff_or_members,
    tags=["network"],
    summary="Publish an event, or propose one",
    description=(
        "Staff publish an event at once. A full member's admin proposes one (409 `member_not_full`; 403 for other"
        " member roles): it is `proposed`, listed only to staff and to the proposing member, and takes no"
        " registrations (409 `event_not_published`) until staff approve it."
    ),
    responses=problems(*POSTED),
)
async def create_event(data: JSONBody[EventIn], db: DbSession, caller: Caller) -> EventOut:
    """Published by staff, proposed by a member's admin (400 naming the field)."""
    proposed_by = None if caller.role is Role.STAFF else acting_member(caller, admin=True)
    view = await events.create_event(
        db, _new_event(data), now=datetime.now(UTC), actor=caller.user_id, proposed_by=proposed_by
    )
    return _event_out(view)


async def _decide(event_id: str, target: EventStatus, db: DbSession, caller: Principal) -> EventOut:
    view = await events.decide_event(
        db, path_id(event_id, "event"), target, now=datetime.now(UTC), actor=caller.user_id
    )
    return _event_out(view)


@post(
    "/v1/events/{event_id:str}/approve",
    status_code=200,
    access=staff_only,
    tags=["network"],
    summary="Publish a member's proposed event",
    description="409 `event_transition_refused` unless proposed; 409 `event_started` once its start has passed.",
    responses=problems(404, *POSTED),
)
async def approve_event(event_id: FromPath[str], db: DbSession, caller: Caller) -> EventOut:
    """Proposed -> published."""
    return await _decide(event_id, EventStatus.PUBLISHED, db, caller)


@post(
    "/v1/events/{event_id:str}/decline",
    status_code=200,
    access=staff_only,
    tags=["network"],
    summary="Decline a member's proposed event",
    description="409 `event_transition_refused` unless proposed.",
    responses=problems(404, *POSTED),
)
async def decline_event(event_id: FromPath[str], db: DbSession, caller: Caller) -> EventOut:
    """Proposed -> declined."""
    return await _decide(event_id, EventStatus.DECLINED, db, caller)


@get(
    "/v1/events",
    access=staff_or_members,
    tags=["network"],
    summary="Upcoming events",
    responses=problems(400, *AUTHENTICATED),
)
async def list_events(db: DbSession, caller: Caller, limit: Limit = 50, cursor: Cursor = None) -> Page[EventOut]:
    """Events not yet over, by id: published ones; staff also see proposals, a member its own."""
    found = await events.upcoming_events(
        db,
        datetime.now(UTC),
        after_id=after_id(cursor),
        limit=limit,
        viewer=Audience.STAFF if caller.role is Role.STAFF else Audience.MEMBERS,
        member_id=caller.member_id,
    )
    return Page([_event_out(v) for v in found], next_cursor([v.id for v in found], limit))


@get(
    "/v1/events.ics",
    access=staff_or_members,
    tags=["network"],
    summary="Upcoming events as an iCalendar feed",
    media_type="text/calendar",
    responses=problems(*AUTHENTICATED),
)
async def events_calendar(db: DbSession) -> Response[str]:
    """RFC 5545, soonest first (at most 500)."""
    now = datetime.now(UTC)
    entries = [
        CalendarEvent(
            uid=f"event-{v.id}@coop",
            title=v.title,
            description=v.description,
            starts_at=v.starts_at,
            ends_at=v.ends_at,
            location=v.place,
            url=v.online_url,
            stamp=now,
        )
        for v in await events.calendar(db, now)
    ]
    return Response(render_calendar(entries, "-//coop//member network//EN"), media_type="text/calendar")


@post(
    "/v1/events/{event_id:str}/registrations",
    access=members_only,
    tags=["network"],
    summary="Register the member's people for an event",
    description=(
        "201 `confirmed` (the member price per attendee charged to the trade account) when all fit, else"
        " `waitlisted` whole. One registration per member and event (409 `already_registered`)."
    ),
    responses=problems(404, *POSTED),
)
async def register(
    event_id: FromPath[str], data: JSONBody[RegistrationIn], db: DbSession, caller: Caller
) -> RegistrationOut:
    """Confirmed or waitlisted."""
    view = await events.register(
        db,
        path_id(event_id, "event"),
        acting_member(caller),
        [(a.name, a.email) for a in data.attendees],
        now=datetime.now(UTC),
        actor=caller.user_id,
    )
    return _registration_out(view)


@post(
    "/v1/events/{event_id:str}/guest-registrations",
    access=staff_only,
    tags=["network"],
    summary="Register a non-member for an event",
    description=(
        "Staff, for one person: the non-member price, owed (`fee_owed_cents`; no trade account is charged)."
        " Confirmed when a seat is free, else waitlisted behind every waiting member. One registration per"
        " e-mail address and event (409 `already_registered`)."
    ),
    responses=problems(404, *POSTED),
)
async def register_guest(
    event_id: FromPath[str], data: JSONBody[GuestIn], db: DbSession, caller: Caller
) -> RegistrationOut:
    """Confirmed or waitlisted."""
    guest = Guest(name=data.name, email=data.email, organisation=data.organisation)
    view = await events.register_guest(
        db, path_id(event_id, "event"), guest, now=datetime.now(UTC), actor=caller.user_id
    )
    return _registration_out(view)


@get(
    "/v1/events/{event_id:str}/registrations",
    access=staff_or_members,
    tags=["network"],
    summary="An event's registrations",
    description="Staff see all; a member's users see their member's own.",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def list_registrations(event_id: FromPath[str], db: DbSession, caller: Caller) -> list[RegistrationOut]:
    """By id."""
    own = None if caller.role is Role.STAFF else acting_member(caller)
    return [_registration_out(v) for v in await events.registrations(db, path_id(event_id, "event"), own)]


@post(
    "/v1/events/{event_id:str}/registrations/{registration_id:str}/cancel",
    status_code=200,
    access=staff_or_members,
    tags=["network"],
    summary="Cancel a registration",
    description=(
        "Before the event's cancellation deadline (409 `cancellation_deadline_passed`): the fee is reversed and the"
        " freed seats go to the waitlist, full members first, then first come."
    ),
    responses=problems(404, *POSTED),
)
async def cancel_registration(
    event_id: FromPath[str], registration_id: FromPath[str], db: DbSession, caller: Caller
) -> RegistrationOut:
    """Cancel, refund, promote."""
    own = None if caller.role is Role.STAFF else acting_member(caller)
    view = await events.cancel_registration(
        db, path_id(event_id, "event"), path_id(registration_id, "registration"), own, now=datetime.now(UTC)
    )
    return _registration_out(view)


@put(
    "/v1/events/{event_id:str}/registrations/{registration_id:str}/attendance",
    access=staff_only,
    tags=["network"],
    summary="Record a registration's attendance",
    description=(
        "Staff, once the event has started (409 `event_not_started`), for a confirmed registration (409"
        " `registration_not_confirmed`): `attended` or `no_show`; a later mark corrects an earlier one."
    ),
    responses=problems(404, *POSTED),
)
async def record_attendance(
    event_id: FromPath[str],
    registration_id: FromPath[str],
    data: JSONBody[EventAttendanceIn],
    db: DbSession,
    caller: Caller,
) -> RegistrationOut:
    """Attended or no-show."""
    view = await events.record_attendance(
        db,
        path_id(event_id, "event"),
        path_id(registration_id, "registration"),
        Attendance(data.attendance),
        now=datetime.now(UTC),
        actor=caller.user_id,
    )
    return _registration_out(view)
