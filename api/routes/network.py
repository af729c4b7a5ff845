"""The member network: profiles, the directory (members' and public), offers among members, events.

Who reads what is decided per field: each profile field has a visibility (staff / members /
public). Staff and the member's own users see the whole profile; other members see the
members' and public fields of listed members in good standing; the public directory (no
sign-in, rate limited per client address) sees only the public fields.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Principal, allow, check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import TEXT_PATTERN, Cents, Email, LongText, Moment, Rate, ShortText, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import utc
from api.routes.identity import client_address
from domain.errors import ForbiddenError, InvalidInputError, NotFoundError, TooManyAttemptsError
from domain.identity.rules import MemberRole, Role
from domain.network import events, offers, profiles
from domain.network.rules import (
    MAX_RADIUS_KM,
    PUBLIC_DIRECTORY_LIMIT,
    Attendance,
    Audience,
    CalendarEvent,
    EventStatus,
    Guest,
    NewEvent,
    NewOffer,
    ProfileInput,
    RateLimit,
    parse_near,
    render_calendar,
)
from domain.network.views import ClaimView, EventView, OfferView, ProfileView, RegistrationView

members_only = allow(Role.MEMBER)

Level = Literal["staff", "members", "public"]
Description = Annotated[
    str, msgspec.Meta(max_length=2000, pattern=r"^[^\x00]*$", description="free text, no NUL characters")
]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=TEXT_PATTERN)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class VisibilityIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Who sees each field; a field left out is seen by members (and staff)."""

    description: Level | None = None
    categories: Level | None = None
    services: Level | None = None
    city: Level | None = None
    postcode: Level | None = None
    country: Level | None = None
    latitude: Level | None = None
    longitude: Level | None = None
    website: Level | None = None
    phone: Level | None = None


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    """The whole profile (a PUT replaces it); `listed` opts the member in to the directory."""

    listed: bool
    description: Description = ""
    categories: Annotated[list[Category], msgspec.Meta(max_length=20)] = []
    services: Annotated[list[Text], msgspec.Meta(max_length=50)] = []
    city: Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""
    postcode: Annotated[str, msgspec.Meta(max_length=50, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""
    country: Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    website: LongText | None = None
    phone: ShortText | None = None
    visibility: VisibilityIn = msgspec.field(default_factory=VisibilityIn)


class ProfileOut(msgspec.Struct, omit_defaults=True):
    """A profile as the caller may see it: fields the caller may not see are left out.

    `listed` and `visibility` are shown to the member's own users and staff only;
    `distance_km` only in a search near a point.
    """

    member_id: str
    name: str
    updated_at: datetime
    listed: bool | None = None
    description: str | None = None
    categories: list[str] | None = None
    services: list[str] | None = None
    city: str | None = None
    postcode: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    website: str | None = None
    phone: str | None = None
    visibility: dict[str, str] | None = None
    distance_km: float | None = None
    # The supplier the member business is (it sells through the co-op); members and staff see it.
    supplier_id: str | None = None


def _out(view: ProfileView) -> ProfileOut:
    return ProfileOut(
        member_id=str(view.member_id),
        name=view.name,
        updated_at=view.updated_at,
        listed=view.listed,
        visibility=view.visibility,
        distance_km=None if view.distance_km is None else round(view.distance_km, 3),
        supplier_id=None if view.supplier_id is None else str(view.supplier_id),
        **view.fields,  # type: ignore[arg-type]  # the profile's own fields, each of its own type
    )


def _audience(caller: Principal, member_id: int | None = None) -> Audience:
    if caller.role is Role.STAFF:
        return Audience.STAFF
    if member_id is not None and caller.member_id == member_id:
        return Audience.OWNER
    return Audience.MEMBERS


@put(
    "/v1/members/{member_id:str}/profile",
    guards=[staff_or_members],
    tags=["network"],
    summary="Set the member's directory profile",
    description=(
        "Staff or the member's admins. The whole profile is replaced; each field's visibility is staff, members"
        " or public (members when not given). A member that has left has no profile (409)."
    ),
    responses=problems(404, *POSTED),
)
async def put_profile(member_id: FromPath[str], data: JSONBody[ProfileIn], db: DbSession, caller: Caller) -> ProfileOut:
    """Create or replace the profile."""
    mid = path_id(member_id, "member")
    check_member_access(caller, mid, admin=True)
    given = ProfileInput(
        listed=data.listed,
        description=data.description,
        categories=list(data.categories),
        services=list(data.services),
        city=data.city,
        postcode=data.postcode,
        country=data.country,
        latitude=data.latitude,
        longitude=data.longitude,
        website=data.website,
        phone=data.phone,
        visibility={k: v for k, v in msgspec.structs.asdict(data.visibility).items() if v is not None},
    )
    return _out(await profiles.save_profile(db, mid, given, datetime.now(UTC)))


@get(
    "/v1/members/{member_id:str}/profile",
    guards=[staff_or_members],
    tags=["network"],
    summary="A member's directory profile",
    description=(
        "Staff and the member's own users see all of it; other members see its members' and public fields, and only"
        " while it is listed and the member is in good standing (else 404)."
    ),
    responses=problems(400, 404, *AUTHENTICATED),
)
async def get_profile(member_id: FromPath[str], db: DbSession, caller: Caller) -> ProfileOut:
    """The profile, cut to the fields the caller may see."""
    mid = path_id(member_id, "member")
    return _out(await profiles.profile_for(db, mid, _audience(caller, mid)))


Query = Annotated[
    str | None, Parameter(max_length=200, pattern=TEXT_PATTERN, description="text in the name, description, services")
]
CategoryQuery = Annotated[str | None, Parameter(max_length=50, pattern=TEXT_PATTERN, description="only this category")]
NearQuery = Annotated[str | None, Parameter(max_length=60, description="lat,lon in degrees: search around this point")]
RadiusQuery = Annotated[
    float | None, Parameter(gt=0, le=MAX_RADIUS_KM, description="kilometres around `near` (default 25)")
]


async def _search(
    db: DbSession,
    audience: Audience,
    *,
    q: str | None,
    category: str | None,
    near: str | None,
    radius_km: float | None,
    limit: int,
    cursor: str | None,
) -> Page[ProfileOut]:
    point, errors = parse_near(near, radius_km)
    if errors:
        raise InvalidInputError("the search is not valid", errors)
    found = await profiles.directory(
        db, audience, text=q, category=category, near=point, after_member_id=after_id(cursor), limit=limit
    )
    return Page([_out(v) for v in found], next_cursor([v.member_id for v in found], limit))


@get(
    "/v1/directory",
    guards=[staff_or_members],
    tags=["network"],
    summary="Search the member directory",
    description=(
        "Listed members in good standing (probationary, full, resigning), by member id. `q` matches the name, or the"
        " description or services where the caller may see them (case-insensitive substring); `category` and `near`"
        " match only fields the caller may see."
    ),
    responses=problems(400, *AUTHENTICATED),
)
async def search_directory(
    db: DbSession,
    caller: Caller,
    *,
    q: Query = None,
    category: CategoryQuery = None,
    near: NearQuery = None,
    radius_km: RadiusQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ProfileOut]:
    """Profiles with the fields members (or staff) may see."""
    audience = Audience.STAFF if caller.role is Role.STAFF else Audience.MEMBERS
    return await _search(
        db, audience, q=q, category=category, near=near, radius_km=radius_km, limit=limit, cursor=cursor
    )


@get(
    "/v1/public/directory",
    tags=["network"],
    summary="The public member directory",
    description=(
        "No sign-in: the public fields of listed members in good standing, searched as /v1/directory. Rate limited"
        " per client address (429 with Retry-After)."
    ),
    responses=problems(400, 429),
)
async def public_directory(  # noqa: PLR0913 - the search's own parameters
    db: DbSession,
    state: State,
    request: Request[Any, Any, Any],
    *,
    q: Query = None,
    category: CategoryQuery = None,
    near: NearQuery = None,
    radius_km: RadiusQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ProfileOut]:
    """Public fields only."""
    limits: RateLimit = state.get("public_directory_limit", PUBLIC_DIRECTORY_LIMIT)
    now = datetime.now(UTC)
    wait = await profiles.count_public_request(db, f"address:{client_address(request)}", now, limits)
    if wait:
        msg = "too many directory requests from this address; try again later"
        raise TooManyAttemptsError(msg, wait)
    return await _search(
        db, Audience.PUBLIC, q=q, category=category, near=near, radius_km=radius_km, limit=limit, cursor=cursor
    )


# Offers among members.

_CODE = re.compile(r"[A-Z2-7]{16}")


def new_claim_code() -> str:
    """A claim code: 80 random bits in base32 (16 letters and digits, easy to read out at a counter)."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")


class OfferIn(msgspec.Struct, forbid_unknown_fields=True):
    """A discount rate (a share of the price, e.g. "0.15") or a price in cents, not both; valid_until is excluded."""

    title: Text
    valid_from: Moment
    valid_until: Moment
    description: Description = ""
    discount_rate: Rate | None = None
    price_cents: Cents | None = None
    max_redemptions: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    terms: Description | None = None


class OfferOut(msgspec.Struct):
    """An offer with its counts: `claimed` never passes `max_redemptions`."""

    id: str
    member_id: str
    member_name: str
    title: str
    description: str
    discount_rate: Decimal | None
    price_cents: int | None
    valid_from: datetime
    valid_until: datetime
    max_redemptions: int | None
    terms: str | None
    claimed: int
    redeemed: int


class OfferClaimOut(msgspec.Struct):
    """A claim: the code to show the offering member; `redeemed_at` once it confirmed the redemption."""

    offer_id: str
    member_id: str
    code: str
    claimed_at: datetime
    redeemed_at: datetime | None
    offer_claimed: int
    offer_redeemed: int


def _offer_out(view: OfferView) -> OfferOut:
    return OfferOut(
        id=str(view.id),
        member_id=str(view.member_id),
        member_name=view.member_name,
        title=view.title,
        description=view.description,
        discount_rate=view.discount_rate,
        price_cents=view.price_cents,
        valid_from=view.valid_from,
        valid_until=view.valid_until,
        max_redemptions=view.max_redemptions,
        terms=view.terms,
        claimed=view.claimed,
        redeemed=view.redeemed,
    )


def _claim_out(view: ClaimView) -> OfferClaimOut:
    return OfferClaimOut(
        offer_id=str(view.offer_id),
        member_id=str(view.member_id),
        code=view.code,
        claimed_at=view.claimed_at,
        redeemed_at=view.redeemed_at,
        offer_claimed=view.offer_claimed,
        offer_redeemed=view.offer_redeemed,
    )


def _acting_member(caller: Principal, *, admin: bool = False) -> int:
    """The member a member user acts for; 403 when an admin is needed and the user is not one."""
    if caller.member_id is None:
        raise ForbiddenError("only a member's users may do this")
    if admin and caller.member_role is not MemberRole.ADMIN:
        raise ForbiddenError("only the member's admins may do this")
    return caller.member_id


@post(
    "/v1/offers",
    guards=[members_only],
    tags=["network"],
    summary="Publish an offer to the other members",
    description="A full member's admin. 400 naming the field; 409 `member_not_full` unless the member is full now.",
    responses=problems(*POSTED),
)
async def publish_offer(data: JSONBody[OfferIn], db: DbSession, caller: Caller) -> OfferOut:
    """Create the offer."""
    member_id = _acting_member(caller, admin=True)
    offer = NewOffer(
        title=data.title,
        description=data.description,
        discount_rate=data.discount_rate,
        price_cents=data.price_cents,
        valid_from=utc(data.valid_from),
        valid_until=utc(data.valid_until),
        max_redemptions=data.max_redemptions,
        terms=data.terms,
    )
    view = await offers.publish_offer(db, member_id, offer, now=datetime.now(UTC), actor=caller.user_id)
    return _offer_out(view)


@get(
    "/v1/offers",
    guards=[staff_or_members],
    tags=["network"],
    summary="Current offers among members",
    description="Offers running now (valid_from <= now < valid_until) of members who are full now, by id.",
    responses=problems(400, *AUTHENTICATED),
)
async def list_offers(db: DbSession, limit: Limit = 50, cursor: Cursor = None) -> Page[OfferOut]:
    """Expired offers drop out by their dates; no job is needed."""
    found = await offers.current_offers(db, datetime.now(UTC), after_id=after_id(cursor), limit=limit)
    return Page([_offer_out(v) for v in found], next_cursor([v.id for v in found], limit))


@post(
    "/v1/offers/{offer_id:str}/claims",
    guards=[members_only],
    tags=["network"],
    summary="Claim an offer",
    description=(
        "A user of another full member, once per member. 201 with the code; 409 with a code: `offer_cap_reached`,"
        " `offer_expired`, `offer_not_yet_valid`, `offer_already_claimed`, `member_not_full`, `offer_unavailable`."
    ),
    responses=problems(404, *POSTED),
)
async def claim_offer(offer_id: FromPath[str], db: DbSession, caller: Caller) -> OfferClaimOut:
    """Take one of the offer's redemptions."""
    view = await offers.claim_offer(
        db,
        path_id(offer_id, "offer"),
        _acting_member(caller),
        code=new_claim_code(),
        now=datetime.now(UTC),
        actor=caller.user_id,
    )
    return _claim_out(view)


@post(
    "/v1/offers/{offer_id:str}/claims/{code:str}/redeem",
    status_code=200,
    guards=[members_only],
    tags=["network"],
    summary="Confirm a claim was redeemed",
    description="The offering member's users; once per claim (409 `claim_already_redeemed`).",
    responses=problems(404, *POSTED),
)
async def redeem_claim(offer_id: FromPath[str], code: FromPath[str], db: DbSession, caller: Caller) -> OfferClaimOut:
    """Mark the claim redeemed and count it."""
    oid = path_id(offer_id, "offer")
    if not _CODE.fullmatch(code):
        raise NotFoundError(f"offer {oid} has no claim with this code")
    view = await offers.redeem_claim(db, oid, code, _acting_member(caller), now=datetime.now(UTC), actor=caller.user_id)
    return _claim_out(view)


# Events, workshops, webinars.


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
    guards=[staff_or_members],
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
    proposed_by = None if caller.role is Role.STAFF else _acting_member(caller, admin=True)
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
    guards=[staff_only],
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
    guards=[staff_only],
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
    guards=[staff_or_members],
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
    guards=[staff_or_members],
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
    guards=[members_only],
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
        _acting_member(caller),
        [(a.name, a.email) for a in data.attendees],
        now=datetime.now(UTC),
        actor=caller.user_id,
    )
    return _registration_out(view)


@post(
    "/v1/events/{event_id:str}/guest-registrations",
    guards=[staff_only],
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
    guards=[staff_or_members],
    tags=["network"],
    summary="An event's registrations",
    description="Staff see all; a member's users see their member's own.",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def list_registrations(event_id: FromPath[str], db: DbSession, caller: Caller) -> list[RegistrationOut]:
    """By id."""
    own = None if caller.role is Role.STAFF else _acting_member(caller)
    return [_registration_out(v) for v in await events.registrations(db, path_id(event_id, "event"), own)]


@post(
    "/v1/events/{event_id:str}/registrations/{registration_id:str}/cancel",
    status_code=200,
    guards=[staff_or_members],
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
    own = None if caller.role is Role.STAFF else _acting_member(caller)
    view = await events.cancel_registration(
        db, path_id(event_id, "event"), path_id(registration_id, "registration"), own, now=datetime.now(UTC)
    )
    return _registration_out(view)


@put(
    "/v1/events/{event_id:str}/registrations/{registration_id:str}/attendance",
    guards=[staff_only],
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
