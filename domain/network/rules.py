"""Pure rules of the member network: who sees which profile field, distances, offers (issue 16)."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.errors import ConflictError, FieldError, InvalidInputError
from domain.membership.rules import Status
from domain.transitions import check_move

if TYPE_CHECKING:
    from collections.abc import Mapping


class Visibility(enum.StrEnum):
    """Who may see one profile field; each level also shows to the levels above it."""

    STAFF = "staff"
    MEMBERS = "members"
    PUBLIC = "public"


class Audience(enum.Enum):
    """Who is reading a profile."""

    STAFF = "staff"
    OWNER = "owner"  # the member's own users: they see their whole profile
    MEMBERS = "members"
    PUBLIC = "public"


# The fields of a profile that carry a visibility of their own. The business name is not
# among them: listing is opt-in, and a listing without a name is no listing.
PROFILE_FIELDS = (
    "description",
    "categories",
    "services",
    "city",
    "postcode",
    "country",
    "latitude",
    "longitude",
    "website",
    "phone",
)
DEFAULT_VISIBILITY = Visibility.MEMBERS

_SEES: dict[Audience, frozenset[Visibility]] = {
    Audience.STAFF: frozenset(Visibility),
    Audience.OWNER: frozenset(Visibility),
    Audience.MEMBERS: frozenset({Visibility.MEMBERS, Visibility.PUBLIC}),
    Audience.PUBLIC: frozenset({Visibility.PUBLIC}),
}

# Members shown in the directory: admitted and not (yet) gone. Applicants, suspended,
# expelled and former members are left out by their status when the directory is read.
LISTED_STATUSES = frozenset({Status.PROBATIONARY, Status.FULL, Status.RESIGNING})


def levels_seen(audience: Audience) -> frozenset[Visibility]:
    """The visibility levels an audience may read."""
    return _SEES[audience]


def visible_fields(visibility: Mapping[str, str], audience: Audience) -> frozenset[str]:
    """The profile fields this audience may see; a field without a stored level is members-only."""
    seen = _SEES[audience]
    return frozenset(f for f in PROFILE_FIELDS if Visibility(visibility.get(f, DEFAULT_VISIBILITY)) in seen)


def filter_fields(values: Mapping[str, object], visibility: Mapping[str, str], audience: Audience) -> dict[str, object]:
    """The profile's values with every field the audience may not see left out."""
    shown = visible_fields(visibility, audience)
    return {k: v for k, v in values.items() if k in shown}


def full_visibility(given: Mapping[str, str]) -> tuple[dict[str, str], list[FieldError]]:
    """Every field's level (the default for the fields not given) and the errors of the given ones."""
    errors = [
        FieldError(f"visibility.{name}", f"not a profile field; one of {', '.join(PROFILE_FIELDS)}")
        for name in sorted(given)
        if name not in PROFILE_FIELDS
    ]
    levels = {v.value for v in Visibility}
    errors += [
        FieldError(f"visibility.{name}", f"must be one of {', '.join(sorted(levels))}")
        for name, level in sorted(given.items())
        if name in PROFILE_FIELDS and level not in levels
    ]
    return {f: given.get(f, DEFAULT_VISIBILITY.value) for f in PROFILE_FIELDS}, errors


MAX_LATITUDE = 90.0
MAX_LONGITUDE = 180.0


def coordinate_errors(latitude: float | None, longitude: float | None) -> list[FieldError]:
    """Coordinates come as a pair, each within its range."""
    errors = []
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        errors.append(FieldError(missing, "latitude and longitude are given together or not at all"))
    if latitude is not None and not (math.isfinite(latitude) and -MAX_LATITUDE <= latitude <= MAX_LATITUDE):
        errors.append(FieldError("latitude", "must be between -90 and 90"))
    if longitude is not None and not (math.isfinite(longitude) and -MAX_LONGITUDE <= longitude <= MAX_LONGITUDE):
        errors.append(FieldError("longitude", "must be between -180 and 180"))
    return errors


def normalize_categories(categories: list[str]) -> list[str]:
    """Categories are matched case-insensitively: stored trimmed, lower case, once each, in order."""
    seen: dict[str, None] = {}
    for category in categories:
        seen.setdefault(category.strip().lower(), None)
    return list(seen)


EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG); the SQL in service.py uses the same figure
MAX_RADIUS_KM = 20_100.0  # half the circumference: every point on Earth


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points, in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


@dataclass(frozen=True, slots=True)
class Near:
    """A point to search around and how far."""

    latitude: float
    longitude: float
    radius_km: float


DEFAULT_RADIUS_KM = 25.0


def parse_near(near: str | None, radius_km: float | None) -> tuple[Near | None, list[FieldError]]:
    """`near=lat,lon` and `radius_km` of a directory search, or the errors naming the parameter."""
    if near is None:
        if radius_km is not None:
            return None, [FieldError("radius_km", "is given only with near=lat,lon")]
        return None, []
    parts = near.split(",")
    try:
        latitude, longitude = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)  # noqa: PLR2004
    except ValueError:
        latitude = longitude = math.nan
    if not (math.isfinite(latitude) and math.isfinite(longitude)) or coordinate_errors(latitude, longitude):
        return None, [FieldError("near", "must be lat,lon in degrees, e.g. 45.52,-122.68")]
    radius = DEFAULT_RADIUS_KM if radius_km is None else radius_km
    if not (math.isfinite(radius) and 0 < radius <= MAX_RADIUS_KM):
        return None, [FieldError("radius_km", f"must be more than 0 and at most {MAX_RADIUS_KM:g}")]
    return Near(latitude, longitude, radius), []


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` per client address in each window of `window_seconds`."""

    requests: int
    window_seconds: int


PUBLIC_DIRECTORY_LIMIT = RateLimit(requests=60, window_seconds=60)


def window_start(now: datetime, limit: RateLimit) -> datetime:
    """The start of the fixed window `now` falls in (windows are aligned to the epoch)."""
    seconds = math.floor(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % limit.window_seconds, tz=now.tzinfo)


def rate_retry_after(hits: int, started: datetime, now: datetime, limit: RateLimit) -> int:
    """0 when the `hits`-th request of the window may go ahead, else whole seconds until the next window."""
    if hits <= limit.requests:
        return 0
    left = (started + timedelta(seconds=limit.window_seconds) - now).total_seconds()
    return max(1, math.ceil(left))


# Offers among members.
OFFERS_BY = frozenset({Status.FULL})  # only full members publish or claim offers

OFFER_EXPIRED = "offer_expired"
OFFER_NOT_YET_VALID = "offer_not_yet_valid"
OFFER_CAP_REACHED = "offer_cap_reached"
OFFER_ALREADY_CLAIMED = "offer_already_claimed"
OFFER_UNAVAILABLE = "offer_unavailable"
CLAIM_ALREADY_REDEEMED = "claim_already_redeemed"
NOT_FULL_MEMBER = "member_not_full"
NOT_IN_GOOD_STANDING = "member_not_in_good_standing"


def check_offer_standing(member_id: int, status: Status, what: str) -> None:
    """Only full members publish and claim offers (409 ``member_not_full`` naming who and why)."""
    if status not in OFFERS_BY:
        msg = f"{what} member {member_id} is {status}; only full members publish and claim offers"
        raise ConflictError(msg, code=NOT_FULL_MEMBER)


def offer_errors(
    *,
    discount_rate: Decimal | None,
    price_cents: int | None,
    valid_from: datetime,
    valid_until: datetime,
    max_redemptions: int | None,
    now: datetime,
) -> list[FieldError]:
    """An offer is a discount rate or a price (one of them), valid for a while not yet over, with an optional cap."""
    errors = []
    if (discount_rate is None) == (price_cents is None):
        errors.append(FieldError("discount_rate", "give either discount_rate or price_cents, not both or neither"))
    if discount_rate is not None and not (Decimal(0) < discount_rate <= Decimal(1)):
        errors.append(FieldError("discount_rate", "must be more than 0 and at most 1 (a share of the price)"))
    if price_cents is not None and price_cents < 0:
        errors.append(FieldError("price_cents", "must not be negative"))
    if valid_until <= valid_from:
        errors.append(FieldError("valid_until", "must be after valid_from"))
    elif valid_until <= now:
        errors.append(FieldError("valid_until", "is already past: the offer would never run"))
    if max_redemptions is not None and max_redemptions < 1:
        errors.append(FieldError("max_redemptions", "must be at least 1 when given"))
    return errors


@dataclass(frozen=True, slots=True)
class NewOffer:
    """An offer as its member's admin publishes it."""

    title: str
    description: str
    discount_rate: Decimal | None
    price_cents: int | None
    valid_from: datetime
    valid_until: datetime
    max_redemptions: int | None
    terms: str | None


def checked_offer(offer: NewOffer, now: datetime) -> NewOffer:
    """The offer, or a 400 naming every field at fault."""
    errors = offer_errors(
        discount_rate=offer.discount_rate,
        price_cents=offer.price_cents,
        valid_from=offer.valid_from,
        valid_until=offer.valid_until,
        max_redemptions=offer.max_redemptions,
        now=now,
    )
    if errors:
        raise InvalidInputError("the offer is not valid", errors)
    return offer


@dataclass(frozen=True, slots=True)
class OfferWindow:
    """What a claim needs to know of an offer."""

    valid_from: datetime
    valid_until: datetime
    max_redemptions: int | None
    claimed: int


def is_current(valid_from: datetime, valid_until: datetime, now: datetime) -> bool:
    """An offer runs from `valid_from` (included) to `valid_until` (excluded)."""
    return valid_from <= now < valid_until


def claim_refusal(offer: OfferWindow, now: datetime) -> ConflictError | None:
    """Why a claim on this offer is refused now (409 with a code), or None when it may be claimed."""
    if now < offer.valid_from:
        return ConflictError(f"the offer is valid from {offer.valid_from.isoformat()}", code=OFFER_NOT_YET_VALID)
    if now >= offer.valid_until:
        return ConflictError(f"the offer expired at {offer.valid_until.isoformat()}", code=OFFER_EXPIRED)
    if offer.max_redemptions is not None and offer.claimed >= offer.max_redemptions:
        return ConflictError(f"all {offer.max_redemptions} redemptions of the offer are taken", code=OFFER_CAP_REACHED)
    return None


@dataclass(frozen=True, slots=True)
class ProfileInput:
    """A member's profile as its admin (or staff) sets it: the whole profile, every time."""

    listed: bool
    description: str
    categories: list[str]
    services: list[str]
    city: str
    postcode: str
    country: str
    latitude: float | None
    longitude: float | None
    website: str | None
    phone: str | None
    visibility: dict[str, str]


def checked_profile(given: ProfileInput) -> ProfileInput:
    """The profile as stored (categories normalized, every field's visibility set), or a 400 naming the fields."""
    visibility, errors = full_visibility(given.visibility)
    errors += coordinate_errors(given.latitude, given.longitude)
    if errors:
        raise InvalidInputError("the profile is not valid", errors)
    return ProfileInput(
        listed=given.listed,
        description=given.description,
        categories=normalize_categories(given.categories),
        services=given.services,
        city=given.city,
        postcode=given.postcode,
        country=given.country,
        latitude=given.latitude,
        longitude=given.longitude,
        website=given.website,
        phone=given.phone,
        visibility=visibility,
    )


# Members whose profile may still be written: those who have not left.
PROFILE_WRITERS = frozenset(Status) - {Status.FORMER, Status.EXPELLED}


def check_profile_writer(member_id: int, status: Status) -> None:
    """A member that has left keeps no directory profile (409)."""
    if status not in PROFILE_WRITERS:
        msg = f"member {member_id} is {status}; a member that has left has no directory profile"
        raise ConflictError(msg, code=NOT_IN_GOOD_STANDING)


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its own %, _ and backslash taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Events, workshops, webinars.


class RegistrationStatus(enum.StrEnum):
    """Where a business's registration for an event stands."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


REGISTRATION_TRANSITIONS: dict[RegistrationStatus, frozenset[RegistrationStatus]] = {
    RegistrationStatus.WAITLISTED: frozenset({RegistrationStatus.CONFIRMED, RegistrationStatus.CANCELLED}),
    RegistrationStatus.CONFIRMED: frozenset({RegistrationStatus.CANCELLED}),
    RegistrationStatus.CANCELLED: frozenset(),
}
REGISTRATION_TRANSITION_REFUSED = "registration_transition_refused"
CANCELLATION_DEADLINE_PASSED = "cancellation_deadline_passed"
EVENT_STARTED = "event_started"
ALREADY_REGISTERED = "already_registered"


def check_registration_move(current: RegistrationStatus, target: RegistrationStatus) -> None:
    """Refuse a move the registration's table does not allow (409 `registration_transition_refused`)."""
    check_move(REGISTRATION_TRANSITIONS, current, target, what="the registration", code=REGISTRATION_TRANSITION_REFUSED)


def event_errors(
    *,
    starts_at: datetime,
    ends_at: datetime,
    place: str | None,
    online_url: str | None,
    cancellation_deadline: datetime,
    now: datetime,
) -> list[FieldError]:
    """An event starts in the future, ends after it starts, happens somewhere, and is cancelled before it starts."""
    errors = []
    if starts_at <= now:
        errors.append(FieldError("starts_at", "must be in the future"))
    if ends_at <= starts_at:
        errors.append(FieldError("ends_at", "must be after starts_at"))
    if place is None and online_url is None:
        errors.append(FieldError("place", "give a place, an online_url, or both"))
    if cancellation_deadline > starts_at:
        errors.append(FieldError("cancellation_deadline", "must not be after starts_at"))
    return errors


def registration_fee_cents(attendees: int, member_price_cents: int) -> int:
    """What a member business pays: the member price for each attendee."""
    return attendees * member_price_cents


@dataclass(frozen=True, slots=True)
class Waiting:
    """A waitlisted registration: `priority` from `waitlist_priority`; then first come."""

    registration_id: int
    seats: int
    priority: int
    registered_at: datetime


def waitlist_priority(status: Status | None) -> int:
    """Member priority on the waitlist: full members (0), other members (1), then non-members (`None`, 2)."""
    if status is None:
        return 2
    return 0 if status is Status.FULL else 1


def fee_owed_cents(*, is_member: bool, status: RegistrationStatus, fee_cents: int) -> int:
    """What a registration still owes outside the ledger: a confirmed non-member's fee (members are charged)."""
    return fee_cents if not is_member and status is RegistrationStatus.CONFIRMED else 0


def promotions(free_seats: int, waitlist: list[Waiting]) -> list[int]:
    """The waitlisted registrations that now get seats, in the order they are served.

    Full members first, then by registration time (and id). A party too large for the seats
    left waits on, and the next in line that fits is served: seats never go unused while a
    smaller party waits, and no party is ever split.
    """
    promoted = []
    for waiting in sorted(waitlist, key=lambda w: (w.priority, w.registered_at, w.registration_id)):
        if waiting.seats <= free_seats:
            promoted.append(waiting.registration_id)
            free_seats -= waiting.seats
    return promoted


def cancellation_refusal(deadline: datetime, now: datetime) -> ConflictError | None:
    """A registration is cancelled (and its fee returned) only before the event's deadline."""
    if now >= deadline:
        return ConflictError(f"cancellations closed at {deadline.isoformat()}", code=CANCELLATION_DEADLINE_PASSED)
    return None


class EventStatus(enum.StrEnum):
    """Where an event stands: staff publish at once; a member's proposal waits for staff."""

    PROPOSED = "proposed"
    PUBLISHED = "published"
    DECLINED = "declined"


EVENT_TRANSITIONS: dict[EventStatus, frozenset[EventStatus]] = {
    EventStatus.PROPOSED: frozenset({EventStatus.PUBLISHED, EventStatus.DECLINED}),
    EventStatus.PUBLISHED: frozenset(),
    EventStatus.DECLINED: frozenset(),
}
EVENT_TRANSITION_REFUSED = "event_transition_refused"
EVENT_NOT_PUBLISHED = "event_not_published"
PROPOSERS = frozenset({Status.FULL})  # as for offers: the full members speak to the others


def check_event_move(current: EventStatus, target: EventStatus) -> None:
    """Refuse a move the event's table does not allow (409 `event_transition_refused`)."""
    check_move(EVENT_TRANSITIONS, current, target, what="the event", code=EVENT_TRANSITION_REFUSED)


def check_registrant_standing(member_id: int, status: Status) -> None:
    """A member registers its people while listed: probationary, full or resigning (409 otherwise)."""
    if status not in LISTED_STATUSES:
        raise ConflictError(f"member {member_id} is {status}", code=NOT_IN_GOOD_STANDING)


def check_proposer_standing(member_id: int, status: Status) -> None:
    """Only full members propose events (409 `member_not_full`)."""
    if status not in PROPOSERS:
        msg = f"member {member_id} is {status}; only full members propose events"
        raise ConflictError(msg, code=NOT_FULL_MEMBER)


def registration_closed(status: EventStatus) -> ConflictError | None:
    """Registrations are taken for published events only: a proposal is not yet, a declined one never."""
    if status is not EventStatus.PUBLISHED:
        return ConflictError(f"the event is {status}, not published", code=EVENT_NOT_PUBLISHED)
    return None


class Attendance(enum.StrEnum):
    """What staff record of a confirmed registration once the event has started."""

    ATTENDED = "attended"
    NO_SHOW = "no_show"


EVENT_NOT_STARTED = "event_not_started"
REGISTRATION_NOT_CONFIRMED = "registration_not_confirmed"


def attendance_refusal(status: RegistrationStatus, starts_at: datetime, now: datetime) -> ConflictError | None:
    """Attendance is known only once the event started, and only people holding seats can attend."""
    if now < starts_at:
        return ConflictError(f"the event starts at {starts_at.isoformat()}", code=EVENT_NOT_STARTED)
    if status is not RegistrationStatus.CONFIRMED:
        return ConflictError(f"the registration is {status}, not confirmed", code=REGISTRATION_NOT_CONFIRMED)
    return None


REMINDER_LEAD = timedelta(days=1)  # confirmed registrations are reminded this long before the start


def reminder_due(starts_at: datetime, now: datetime) -> bool:
    """A reminder goes out once the start is a day away or less, and never after the start."""
    return now < starts_at <= now + REMINDER_LEAD


def window_over(started: datetime, now: datetime, limit: RateLimit) -> bool:
    """A rate window that began before the current one counts nothing any more: its row may go."""
    return started < window_start(now, limit)


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """What the iCalendar feed says of one event."""

    uid: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    url: str | None
    stamp: datetime


def _ics_text(value: str) -> str:
    """RFC 5545 §3.3.11: backslash, semicolon, comma and new lines escaped."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _ics_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


ICS_LINE_OCTETS = 75


def _fold(line: str) -> list[str]:
    """RFC 5545 §3.1: lines of at most 75 octets, continued with a leading space (never inside a character)."""
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > ICS_LINE_OCTETS:
            parts.append(current)
            current, size = " ", 1  # the continuation's leading space counts
        current += char
        size += width
    parts.append(current)
    return parts


def render_calendar(events: list[CalendarEvent], product: str) -> str:
    """An iCalendar (RFC 5545) document of the events, CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{_ics_text(product)}", "CALSCALE:GREGORIAN"]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_ics_text(event.uid)}",
            f"DTSTAMP:{_ics_time(event.stamp)}",
            f"DTSTART:{_ics_time(event.starts_at)}",
            f"DTEND:{_ics_time(event.ends_at)}",
            f"SUMMARY:{_ics_text(event.title)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{_ics_text(event.description)}")
        if event.location:
            lines.append(f"LOCATION:{_ics_text(event.location)}")
        if event.url:
            lines.append(f"URL:{_ics_text(event.url)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(f"{part}\r\n" for line in lines for part in _fold(line))


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as staff publish it; the cancellation deadline defaults to the start."""

    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    online_url: str | None
    capacity: int
    member_price_cents: int
    nonmember_price_cents: int
    cancellation_deadline: datetime | None


@dataclass(frozen=True, slots=True)
class Guest:
    """A non-member staff register for an event: one person, named with their organisation."""

    name: str
    email: str
    organisation: str


# Members as suppliers: a catalog supplier linked to a member business (one business, two roles).
SELLER_LINK_STATUSES = frozenset({Status.FULL})  # staff link only a full member, as for offers
# While linked, the member's users act on the supplier side only while the member is in good
# standing: a suspended member's users lose it (staff and the supplier's own users keep it).
SELLER_SIDE_STATUSES = LISTED_STATUSES
# The member roles that act for the business as a supplier: its admins, and its buyers, who
# handle the goods; finance users keep to the member's accounts.
SELLER_SIDE_ROLES = frozenset({"admin", "buyer"})
MEMBER_ALREADY_SUPPLIER = "member_already_supplier"


def check_seller_link(member_id: int, status: Status) -> None:
    """A supplier is linked only to a full member, in good standing now (409 ``member_not_full``)."""
    if status not in SELLER_LINK_STATUSES:
        msg = f"member {member_id} is {status}; only a full member in good standing can be linked as a supplier"
        raise ConflictError(msg, code=NOT_FULL_MEMBER)


def acts_as_seller(member_role: str | None, status: Status) -> bool:
    """Whether a user of a linked member reaches the supplier side now (by the supplier's own walls)."""
    return member_role in SELLER_SIDE_ROLES and status in SELLER_SIDE_STATUSES
