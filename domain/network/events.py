"""Events, workshops and webinars: proposals, registrations with fees and a waitlist, attendance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import AccountKind
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.network.rules import (
    ALREADY_REGISTERED,
    EVENT_STARTED,
    LISTED_STATUSES,
    Attendance,
    Audience,
    EventStatus,
    Guest,
    NewEvent,
    RegistrationStatus,
    Waiting,
    attendance_refusal,
    cancellation_refusal,
    check_event_move,
    check_proposer_standing,
    check_registrant_standing,
    check_registration_move,
    event_errors,
    fee_owed_cents,
    promotions,
    registration_closed,
    registration_fee_cents,
    waitlist_priority,
)
from domain.network.standing import locked_status
from domain.network.tables import (
    EventRegistration,
    NetworkEvent,
)
from domain.network.views import EventView, RegistrationView
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

EVENT_FEES = chart.AccountSpec("coop:event_fees", AccountKind.INCOME, "Event and workshop fees")


def _event_view(event: NetworkEvent) -> EventView:
    assert event.id is not None  # noqa: S101 - stored
    return EventView(
        id=event.id,
        title=event.title,
        description=event.description,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        cancellation_deadline=event.cancellation_deadline,
        place=event.place,
        online_url=event.online_url,
        capacity=event.capacity,
        taken=event.taken,
        member_price_cents=event.member_price_cents,
        nonmember_price_cents=event.nonmember_price_cents,
        status=event.status,
        proposed_by_member_id=event.proposed_by_member,
    )


def _registration_view(row: EventRegistration) -> RegistrationView:
    assert row.id is not None  # noqa: S101 - stored
    return RegistrationView(
        id=row.id,
        event_id=row.event_id,
        member_id=row.member_id,
        organisation=row.guest_organisation,
        status=row.status,
        attendees=[(a["name"], a["email"]) for a in row.attendees],
        fee_cents=row.fee_cents,
        fee_owed_cents=fee_owed_cents(
            is_member=row.member_id is not None, status=RegistrationStatus(row.status), fee_cents=row.fee_cents
        ),
        registered_at=row.registered_at,
        cancelled_at=row.cancelled_at,
        attendance=row.attendance,
    )


async def create_event(
    session: AsyncSession, new: NewEvent, *, now: datetime, actor: int, proposed_by: int | None = None
) -> EventView:
    """Staff publish an event; a full member's admin (`proposed_by`) proposes one for staff (400 naming the field).

    The proposer's status is read `FOR SHARE`, so a suspension waits for the proposal in flight.
    """
    if proposed_by is not None:
        check_proposer_standing(proposed_by, await locked_status(session, proposed_by))
    deadline = new.cancellation_deadline or new.starts_at
    errors = event_errors(
        starts_at=new.starts_at,
        ends_at=new.ends_at,
        place=new.place,
        online_url=new.online_url,
        cancellation_deadline=deadline,
        now=now,
    )
    if errors:
        raise InvalidInputError("the event is not valid", errors)
    row = NetworkEvent(
        title=new.title,
        description=new.description,
        starts_at=new.starts_at,
        ends_at=new.ends_at,
        cancellation_deadline=deadline,
        place=new.place,
        online_url=new.online_url,
        capacity=new.capacity,
        member_price_cents=new.member_price_cents,
        nonmember_price_cents=new.nonmember_price_cents,
        created_by=actor,
        created_at=now,
        status=(EventStatus.PUBLISHED if proposed_by is None else EventStatus.PROPOSED).value,
        proposed_by_member=proposed_by,
    )
    session.add(row)
    await session.flush()
    return _event_view(row)


async def decide_event(
    session: AsyncSession, event_id: int, target: EventStatus, *, now: datetime, actor: int
) -> EventView:
    """Staff publish or decline a member's proposal (409 `event_transition_refused` once decided).

    A proposal is not published once its start has passed (409 `event_started`); the proposing
    member is told either way, through the outbox.
    """
    event = await _locked_event(session, event_id)
    check_event_move(EventStatus(event.status), target)
    if target is EventStatus.PUBLISHED and now >= event.starts_at:
        raise ConflictError(f"event {event_id} has started", code=EVENT_STARTED)
    event.status = target.value
    event.decided_by = actor
    event.decided_at = now
    session.add(event)
    await session.flush()
    if event.proposed_by_member is not None:
        await notifications.record(
            session,
            event=f"event.proposal_{target.value}",
            audience=f"member:{event.proposed_by_member}",
            data={"event_id": str(event_id), "title": event.title},
            business_key=f"event:{event_id}:proposal_decided",
        )
    return _event_view(event)


def _shown_to(viewer: Audience, member_id: int | None) -> sa.ColumnElement[bool]:
    """Published events to all; proposals to staff and to the member that proposed them (declined ones too)."""
    published = col(NetworkEvent.status) == EventStatus.PUBLISHED.value
    if viewer is Audience.STAFF:
        return col(NetworkEvent.status) != EventStatus.DECLINED.value
    if member_id is None:
        return published
    return sa.or_(published, col(NetworkEvent.proposed_by_member) == member_id)


async def upcoming_events(
    session: AsyncSession,
    now: datetime,
    *,
    after_id: int,
    limit: int,
    viewer: Audience = Audience.MEMBERS,
    member_id: int | None = None,
) -> list[EventView]:
    """Events not yet over that the viewer may see (`_shown_to`), by id."""
    rows = await session.exec(
        select(NetworkEvent)
        .where(col(NetworkEvent.ends_at) > now, col(NetworkEvent.id) > after_id, _shown_to(viewer, member_id))
        .order_by(col(NetworkEvent.id))
        .limit(limit)
    )
    return [_event_view(e) for e in rows.all()]


async def _locked_event(session: AsyncSession, event_id: int) -> NetworkEvent:
    """The event's row, locked: registrations and cancellations of one event go one at a time."""
    event = (
        await session.exec(select(NetworkEvent).where(col(NetworkEvent.id) == event_id).with_for_update())
    ).one_or_none()
    if event is None:
        raise NotFoundError(f"event {event_id} not found")
    await session.refresh(event)
    return event


async def _charge(session: AsyncSession, event: NetworkEvent, registration: EventRegistration, now: datetime) -> None:
    """The member price per attendee, on the member's trade account, once per registration.

    A non-member pays the non-member price, recorded on the registration as owed: it has no
    trade account, and staff collect it outside the ledger (docs/network.md).
    """
    if registration.member_id is None:
        registration.fee_cents = registration_fee_cents(registration.seats, event.nonmember_price_cents)
        return
    fee = registration_fee_cents(registration.seats, event.member_price_cents)
    registration.fee_cents = fee
    if fee > 0:
        entry = await ledger.transfer(
            session,
            debit=chart.member_trade(registration.member_id),
            credit=EVENT_FEES,
            amount_cents=fee,
            kind="event_fee",
            idempotency_key=f"event_fee:{registration.id}",
            occurred_at=now,
            memo=f"event {event.id}: {event.title}",
        )
        registration.fee_entry_id = entry.id


async def register(
    session: AsyncSession,
    event_id: int,
    member_id: int,
    attendees: list[tuple[str, str]],
    *,
    now: datetime,
    actor: int,
) -> RegistrationView:
    """Register the member's people: confirmed (and charged) when all fit, else waitlisted whole.

    The event's row is locked for the whole decision, so seats are never given twice; a
    CHECK (taken <= capacity) backs it.
    """
    check_registrant_standing(member_id, await locked_status(session, member_id))
    return await _insert_registration(
        session, event_id, {"member_id": member_id}, attendees, now=now, actor=actor, who=f"member {member_id}"
    )


async def register_guest(
    session: AsyncSession, event_id: int, guest: Guest, *, now: datetime, actor: int
) -> RegistrationView:
    """Staff register one non-member at the non-member price, owed (no trade account is charged).

    The seat counts in the capacity; when none is free the guest waits behind every waiting
    member (rules.waitlist_priority). One registration per e-mail address and event.
    """
    email = guest.email.strip().lower()
    return await _insert_registration(
        session,
        event_id,
        {"guest_name": guest.name, "guest_email": email, "guest_organisation": guest.organisation},
        [(guest.name, email)],
        now=now,
        actor=actor,
        who=email,
    )


async def _insert_registration(
    session: AsyncSession,
    event_id: int,
    who_registers: dict[str, object],
    attendees: list[tuple[str, str]],
    *,
    now: datetime,
    actor: int,
    who: str,
) -> RegistrationView:
    event = await _locked_event(session, event_id)
    if refusal := registration_closed(EventStatus(event.status)):
        raise refusal
    if now >= event.starts_at:
        raise ConflictError(f"event {event_id} has started", code=EVENT_STARTED)
    seats = len(attendees)
    fits = event.taken + seats <= event.capacity
    table = EventRegistration.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    unique = ["event_id", "member_id"] if "member_id" in who_registers else ["event_id", "guest_email"]
    new_id = (
        await session.execute(
            insert(EventRegistration)
            .values(
                event_id=event_id,
                **who_registers,
                status=(RegistrationStatus.CONFIRMED if fits else RegistrationStatus.WAITLISTED).value,
                seats=seats,
                attendees=[{"name": name, "email": email} for name, email in attendees],
                fee_cents=0,
                registered_by=actor,
                registered_at=now,
            )
            .on_conflict_do_nothing(index_elements=unique)
            .returning(table.id)
        )
    ).scalar_one_or_none()
    if new_id is None:
        raise ConflictError(f"{who} is already registered for event {event_id}", code=ALREADY_REGISTERED)
    registration = await session.get(EventRegistration, new_id)
    assert registration is not None  # noqa: S101 - inserted above
    if fits:
        event.taken += seats
        await _charge(session, event, registration, now)
    session.add_all([event, registration])
    await session.flush()
    return _registration_view(registration)


async def registrations(session: AsyncSession, event_id: int, member_id: int | None) -> list[RegistrationView]:
    """The event's registrations (only the member's own when `member_id` is given), by id."""
    query = select(EventRegistration).where(col(EventRegistration.event_id) == event_id)
    if member_id is not None:
        query = query.where(col(EventRegistration.member_id) == member_id)
    if await session.get(NetworkEvent, event_id) is None:
        raise NotFoundError(f"event {event_id} not found")
    return [_registration_view(r) for r in (await session.exec(query.order_by(col(EventRegistration.id)))).all()]


async def cancel_registration(
    session: AsyncSession, event_id: int, registration_id: int, member_id: int | None, *, now: datetime
) -> RegistrationView:
    """Cancel before the deadline: the fee is reversed and freed seats go to the waitlist.

    `member_id` None is staff (any registration); a member's users cancel only their own (404
    for another's). The waitlist is served full members first, then first come (rules.promotions),
    each promoted registration charged then.
    """
    event = await _locked_event(session, event_id)
    registration = await session.get(EventRegistration, registration_id, with_for_update=True)
    if registration is None or registration.event_id != event_id or member_id not in {None, registration.member_id}:
        raise NotFoundError(f"registration {registration_id} not found")
    if refusal := cancellation_refusal(event.cancellation_deadline, now):
        raise refusal
    current = RegistrationStatus(registration.status)
    check_registration_move(current, RegistrationStatus.CANCELLED)
    registration.status = RegistrationStatus.CANCELLED.value
    registration.cancelled_at = now
    if current is RegistrationStatus.CONFIRMED:
        event.taken -= registration.seats
        if registration.fee_entry_id is not None:
            await ledger.reverse_entry(
                session, registration.fee_entry_id, occurred_at=now, memo=f"event {event_id}: cancelled"
            )
        await _promote(session, event, now)
    session.add_all([event, registration])
    await session.flush()
    return _registration_view(registration)


async def record_attendance(
    session: AsyncSession,
    event_id: int,
    registration_id: int,
    attendance: Attendance,
    *,
    now: datetime,
    actor: int,
) -> RegistrationView:
    """Staff mark a confirmed registration attended or no-show once the event has started; a later mark corrects it."""
    event = await session.get(NetworkEvent, event_id)
    registration = await session.get(EventRegistration, registration_id, with_for_update=True)
    if event is None or registration is None or registration.event_id != event_id:
        raise NotFoundError(f"registration {registration_id} of event {event_id} not found")
    if refusal := attendance_refusal(RegistrationStatus(registration.status), event.starts_at, now):
        raise refusal
    registration.attendance = attendance.value
    registration.attendance_recorded_by = actor
    registration.attendance_recorded_at = now
    session.add(registration)
    await session.flush()
    return _registration_view(registration)


async def _promote(session: AsyncSession, event: NetworkEvent, now: datetime) -> None:
    rows = (
        await session.exec(
            select(EventRegistration, Member.status)
            .outerjoin(Member, col(Member.id) == col(EventRegistration.member_id))
            .where(
                col(EventRegistration.event_id) == event.id,
                col(EventRegistration.status) == RegistrationStatus.WAITLISTED.value,
                sa.or_(
                    col(EventRegistration.member_id).is_(None),
                    col(Member.status).in_(sorted(s.value for s in LISTED_STATUSES)),
                ),
            )
            .order_by(col(EventRegistration.id))
            .with_for_update(of=EventRegistration)
        )
    ).all()
    waiting = {r.id: r for r, _ in rows}
    line = [
        Waiting(r.id or 0, r.seats, waitlist_priority(None if status is None else Status(status)), r.registered_at)
        for r, status in rows
    ]
    for registration_id in promotions(event.capacity - event.taken, line):
        promoted = waiting[registration_id]
        check_registration_move(RegistrationStatus(promoted.status), RegistrationStatus.CONFIRMED)
        promoted.status = RegistrationStatus.CONFIRMED.value
        event.taken += promoted.seats
        await _charge(session, event, promoted, now)
        session.add(promoted)


async def calendar(session: AsyncSession, now: datetime, *, limit: int = 500) -> list[EventView]:
    """Events not yet over, soonest first, for the iCalendar feed."""
    rows = await session.exec(
        select(NetworkEvent)
        .where(col(NetworkEvent.ends_at) > now, col(NetworkEvent.status) == EventStatus.PUBLISHED.value)
        .order_by(col(NetworkEvent.starts_at), col(NetworkEvent.id))
        .limit(limit)
    )
    return [_event_view(e) for e in rows.all()]
