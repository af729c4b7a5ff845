"""The member network's use cases: profiles, the directory, offers among members (issue 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.catalog.tables import Supplier
from domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import AccountKind
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.network.rules import (
    ALREADY_REGISTERED,
    CLAIM_ALREADY_REDEEMED,
    EARTH_RADIUS_KM,
    EVENT_STARTED,
    LISTED_STATUSES,
    OFFER_ALREADY_CLAIMED,
    OFFER_CAP_REACHED,
    OFFER_UNAVAILABLE,
    OFFERS_BY,
    PROFILE_FIELDS,
    PROFILE_WRITERS,
    Attendance,
    Audience,
    EventStatus,
    Guest,
    Near,
    NewEvent,
    NewOffer,
    OfferWindow,
    ProfileInput,
    RateLimit,
    RegistrationStatus,
    Waiting,
    attendance_refusal,
    cancellation_refusal,
    check_event_move,
    check_offer_standing,
    check_proposer_standing,
    check_registration_move,
    checked_offer,
    checked_profile,
    claim_refusal,
    event_errors,
    fee_owed_cents,
    filter_fields,
    levels_seen,
    like_pattern,
    promotions,
    rate_retry_after,
    registration_closed,
    registration_fee_cents,
    waitlist_priority,
    window_start,
)
from domain.network.tables import (
    DirectoryRateWindow,
    EventRegistration,
    MemberOffer,
    MemberProfile,
    NetworkEvent,
    OfferClaim,
)
from domain.network.views import ClaimView, EventView, OfferView, ProfileView, RegistrationView
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

NOT_IN_GOOD_STANDING = "member_not_in_good_standing"

_PROFILE = MemberProfile.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models


async def _member_status(session: AsyncSession, member_id: int) -> Status:
    """The member's status, its row locked FOR SHARE so a status change waits for this write."""
    found = (
        await session.exec(select(Member.status).where(col(Member.id) == member_id).with_for_update(read=True))
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"member {member_id} not found")
    return Status(found)


async def save_profile(session: AsyncSession, member_id: int, given: ProfileInput, now: datetime) -> ProfileView:
    """Create or replace the member's profile; a member that has left keeps none (409)."""
    profile = checked_profile(given)
    status = await _member_status(session, member_id)
    if status not in PROFILE_WRITERS:
        msg = f"member {member_id} is {status}; a member that has left has no directory profile"
        raise ConflictError(msg, code=NOT_IN_GOOD_STANDING)
    values: dict[str, Any] = {
        "listed": profile.listed,
        "description": profile.description,
        "categories": profile.categories,
        "services": profile.services,
        "city": profile.city,
        "postcode": profile.postcode,
        "country": profile.country,
        "latitude": profile.latitude,
        "longitude": profile.longitude,
        "website": profile.website,
        "phone": profile.phone,
        "visibility": profile.visibility,
        "updated_at": now,
    }
    await session.execute(
        insert(MemberProfile)
        .values(member_id=member_id, **values)
        .on_conflict_do_update(index_elements=["member_id"], set_=values)
    )
    return await profile_for(session, member_id, Audience.OWNER)


def _distance_km(near: Near) -> sa.ColumnElement[float]:
    """Haversine in SQL, with the same radius as rules.haversine_km (least() keeps asin in its domain)."""
    lat, lon = _PROFILE.latitude, _PROFILE.longitude
    h = sa.func.power(sa.func.sin(sa.func.radians(lat - near.latitude) / 2), 2) + sa.func.cos(
        sa.func.radians(near.latitude)
    ) * sa.func.cos(sa.func.radians(lat)) * sa.func.power(sa.func.sin(sa.func.radians(lon - near.longitude) / 2), 2)
    return 2 * EARTH_RADIUS_KM * sa.func.asin(sa.func.sqrt(sa.func.least(1.0, h)))


def _seen(field: str, audience: Audience) -> sa.ColumnElement[bool]:
    """True where the reader may see this field of the row: a search never matches a hidden field."""
    levels = sorted(level.value for level in levels_seen(audience))
    return _PROFILE.visibility.op("->>")(field).in_(levels)  # type: ignore[no-any-return]


def _view(row: sa.Row[Any], audience: Audience, distance_km: float | None = None) -> ProfileView:
    values = {name: getattr(row, name) for name in PROFILE_FIELDS}
    privileged = audience in {Audience.STAFF, Audience.OWNER}
    return ProfileView(
        member_id=row.member_id,
        name=row.name,
        fields=filter_fields(values, row.visibility, audience),
        listed=row.listed if privileged else None,
        visibility=dict(row.visibility) if privileged else None,
        distance_km=distance_km,
        updated_at=row.updated_at,
        supplier_id=None if audience is Audience.PUBLIC else row.seller_supplier_id,
    )


def _profiles() -> sa.Select[Any]:
    """Profiles with their member's name, status and supplier, if it is one (read now, never copied)."""
    table: sa.Table = MemberProfile.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
    query: sa.Select[Any] = (
        sa.select(table, col(Member.name), col(Member.status), col(Supplier.id).label("seller_supplier_id"))
        .join(Member, col(Member.id) == _PROFILE.member_id)
        .outerjoin(Supplier, col(Supplier.member_id) == _PROFILE.member_id)
    )
    return query


async def profile_for(session: AsyncSession, member_id: int, audience: Audience) -> ProfileView:
    """One member's profile for this reader; to other members it exists only while it is listed and in standing."""
    row = (await session.execute(_profiles().where(_PROFILE.member_id == member_id))).one_or_none()
    hidden = row is None or (
        audience in {Audience.MEMBERS, Audience.PUBLIC} and not (row.listed and Status(row.status) in LISTED_STATUSES)
    )
    if hidden:
        raise NotFoundError(f"member {member_id} has no profile")
    assert row is not None  # noqa: S101 - hidden covers None
    return _view(row, audience)


async def directory(
    session: AsyncSession,
    audience: Audience,
    *,
    text: str | None,
    category: str | None,
    near: Near | None,
    after_member_id: int,
    limit: int,
) -> list[ProfileView]:
    """Listed profiles of members in good standing (by their status now), by member id.

    Text matches the business name, or the description or services where the reader may see
    them (ILIKE, substring, case-insensitive); a category only where the reader may see the
    categories; distance only for profiles whose coordinates the reader may see.
    """
    query = _profiles().where(
        _PROFILE.listed.is_(True),
        col(Member.status).in_(sorted(s.value for s in LISTED_STATUSES)),
        _PROFILE.member_id > after_member_id,
    )
    if text is not None:
        pattern = like_pattern(text)
        query = query.where(
            sa.or_(
                col(Member.name).ilike(pattern, escape="\\"),
                sa.and_(_seen("description", audience), _PROFILE.description.ilike(pattern, escape="\\")),
                sa.and_(
                    _seen("services", audience),
                    sa.func.array_to_string(_PROFILE.services, " ").ilike(pattern, escape="\\"),
                ),
            )
        )
    if category is not None:
        query = query.where(_seen("categories", audience), _PROFILE.categories.contains([category.strip().lower()]))
    distance: sa.ColumnElement[float] | None = None
    if near is not None:
        distance = _distance_km(near)
        query = query.add_columns(distance.label("distance_km")).where(
            _seen("latitude", audience),
            _seen("longitude", audience),
            _PROFILE.latitude.is_not(None),
            distance <= near.radius_km,
        )
    rows = (await session.execute(query.order_by(_PROFILE.member_id).limit(limit))).all()
    return [_view(row, audience, row.distance_km if distance is not None else None) for row in rows]


async def count_public_request(session: AsyncSession, key: str, now: datetime, limit: RateLimit) -> int:
    """Count one public directory request of `key`; 0 when it may go ahead, else seconds to wait.

    One upsert: the row of the key is locked by it, so concurrent requests count one by one.
    """
    started = window_start(now, limit)
    table = DirectoryRateWindow.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    hits = (
        await session.execute(
            insert(DirectoryRateWindow)
            .values(key=key, window_start=started, hits=1)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "hits": sa.case((table.window_start == started, table.hits + 1), else_=1),
                    "window_start": started,
                },
            )
            .returning(table.hits)
        )
    ).scalar_one()
    return rate_retry_after(int(hits), started, now, limit)


# Offers among members.


def _offer_view(offer: MemberOffer, member_name: str) -> OfferView:
    assert offer.id is not None  # noqa: S101 - stored
    return OfferView(
        id=offer.id,
        member_id=offer.member_id,
        member_name=member_name,
        title=offer.title,
        description=offer.description,
        discount_rate=offer.discount_rate,
        price_cents=offer.price_cents,
        valid_from=offer.valid_from,
        valid_until=offer.valid_until,
        max_redemptions=offer.max_redemptions,
        terms=offer.terms,
        claimed=offer.claimed,
        redeemed=offer.redeemed,
    )


async def _statuses(session: AsyncSession, member_ids: set[int]) -> dict[int, Status]:
    """The members' statuses, their rows locked FOR SHARE in id order: a status change waits for this write."""
    rows = await session.execute(
        sa.select(col(Member.id), col(Member.status))
        .where(col(Member.id).in_(sorted(member_ids)))
        .order_by(col(Member.id))
        .with_for_update(read=True)
    )
    return {int(member_id): Status(status) for member_id, status in rows.all()}


def _require_full(member_id: int, status: Status | None, what: str) -> None:
    if status is None:
        raise NotFoundError(f"member {member_id} not found")
    check_offer_standing(member_id, status, what)


async def publish_offer(
    session: AsyncSession, member_id: int, offer: NewOffer, *, now: datetime, actor: int
) -> OfferView:
    """A full member's offer to the other members (400 naming the field; 409 unless the member is full now)."""
    checked = checked_offer(offer, now)
    _require_full(member_id, (await _statuses(session, {member_id})).get(member_id), "the offering")
    row = MemberOffer(
        member_id=member_id,
        title=checked.title,
        description=checked.description,
        discount_rate=checked.discount_rate,
        price_cents=checked.price_cents,
        valid_from=checked.valid_from,
        valid_until=checked.valid_until,
        max_redemptions=checked.max_redemptions,
        terms=checked.terms,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    name = (await session.exec(select(Member.name).where(col(Member.id) == member_id))).one()
    return _offer_view(row, name)


async def current_offers(session: AsyncSession, now: datetime, *, after_id: int, limit: int) -> list[OfferView]:
    """Offers running now of members who are full now, by id (expiry needs no job: it is read here)."""
    rows = await session.exec(
        select(MemberOffer, Member.name)
        .join(Member, col(Member.id) == col(MemberOffer.member_id))
        .where(
            col(MemberOffer.valid_from) <= now,
            col(MemberOffer.valid_until) > now,
            col(Member.status).in_(sorted(s.value for s in OFFERS_BY)),
            col(MemberOffer.id) > after_id,
        )
        .order_by(col(MemberOffer.id))
        .limit(limit)
    )
    return [_offer_view(offer, name) for offer, name in rows.all()]


async def _offer(session: AsyncSession, offer_id: int) -> MemberOffer:
    offer = await session.get(MemberOffer, offer_id)
    if offer is None:
        raise NotFoundError(f"offer {offer_id} not found")
    return offer


async def claim_offer(
    session: AsyncSession, offer_id: int, member_id: int, *, code: str, now: datetime, actor: int
) -> ClaimView:
    """A user of another full member claims the offer once; the cap holds under concurrent claims.

    The count is taken by one conditional UPDATE (claimed < cap, within the dates): concurrent
    claims queue on the offer's row and each re-checks the condition on the row the one before
    it committed, so no more than the cap ever succeed. The claim row goes in first: its unique
    (offer, member) refuses a second claim by the same member whatever the count; a refused
    count then undoes the claim row with the rest of the request's work.
    """
    offer = await _offer(session, offer_id)
    if offer.member_id == member_id:
        raise ForbiddenError("a member does not claim its own offer", code="own_offer")
    statuses = await _statuses(session, {member_id, offer.member_id})
    _require_full(member_id, statuses.get(member_id), "the claiming")
    if statuses.get(offer.member_id) not in OFFERS_BY:
        raise ConflictError(f"offer {offer_id}: its member is not in good standing", code=OFFER_UNAVAILABLE)
    claim_table = OfferClaim.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    claimed_at = (
        await session.execute(
            insert(OfferClaim)
            .values(offer_id=offer_id, member_id=member_id, code=code, claimed_by=actor, claimed_at=now)
            .on_conflict_do_nothing(index_elements=["offer_id", "member_id"])
            .returning(claim_table.claimed_at)
        )
    ).scalar_one_or_none()
    if claimed_at is None:
        raise ConflictError(f"member {member_id} already claimed offer {offer_id}", code=OFFER_ALREADY_CLAIMED)
    table = MemberOffer.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    counted = (
        await session.execute(
            sa.update(MemberOffer)
            .where(
                table.id == offer_id,
                table.valid_from <= now,
                table.valid_until > now,
                sa.or_(table.max_redemptions.is_(None), table.claimed < table.max_redemptions),
            )
            .values(claimed=table.claimed + 1)
            .returning(table.claimed, table.redeemed)
        )
    ).one_or_none()
    if counted is None:
        await session.refresh(offer)
        window = OfferWindow(offer.valid_from, offer.valid_until, offer.max_redemptions, offer.claimed)
        raise claim_refusal(window, now) or ConflictError("the offer cannot be claimed", code=OFFER_CAP_REACHED)
    return ClaimView(offer_id, member_id, code, claimed_at, None, int(counted[0]), int(counted[1]))


async def redeem_claim(
    session: AsyncSession, offer_id: int, code: str, member_id: int, *, now: datetime, actor: int
) -> ClaimView:
    """The offering member's users confirm a claim was used, once (another member's offer is not found)."""
    offer = await _offer(session, offer_id)
    if offer.member_id != member_id:
        raise NotFoundError(f"offer {offer_id} not found")
    _require_full(member_id, (await _statuses(session, {member_id})).get(member_id), "the offering")
    claim_table = OfferClaim.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    redeemed = (
        await session.execute(
            sa.update(OfferClaim)
            .where(claim_table.offer_id == offer_id, claim_table.code == code, claim_table.redeemed_at.is_(None))
            .values(redeemed_at=now, redeemed_by=actor)
            .returning(claim_table.member_id, claim_table.claimed_at)
        )
    ).one_or_none()
    if redeemed is None:
        exists = (
            await session.exec(
                select(OfferClaim.id).where(col(OfferClaim.offer_id) == offer_id, col(OfferClaim.code) == code)
            )
        ).one_or_none()
        if exists is None:
            raise NotFoundError(f"offer {offer_id} has no claim with this code")
        raise ConflictError("the claim was already redeemed", code=CLAIM_ALREADY_REDEEMED)
    table = MemberOffer.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    counts = (
        await session.execute(
            sa.update(MemberOffer)
            .where(table.id == offer_id)
            .values(redeemed=table.redeemed + 1)
            .returning(table.claimed, table.redeemed)
        )
    ).one()
    return ClaimView(offer_id, int(redeemed[0]), code, redeemed[1], now, int(counts[0]), int(counts[1]))


# Events, workshops, webinars.

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
        status = (await _statuses(session, {proposed_by})).get(proposed_by)
        if status is None:
            raise NotFoundError(f"member {proposed_by} not found")
        check_proposer_standing(proposed_by, status)
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
    status = (await _statuses(session, {member_id})).get(member_id)
    if status is None:
        raise NotFoundError(f"member {member_id} not found")
    if status not in LISTED_STATUSES:
        raise ConflictError(f"member {member_id} is {status}", code=NOT_IN_GOOD_STANDING)
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
