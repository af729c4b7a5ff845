"""The member network's directory: members' profiles, searched by members and by the public.

Who reads what is decided per field: each profile field has a visibility (staff / members /
public). Staff and the member's own users see the whole profile; other members see the
members' and public fields of listed members in good standing; the public directory (no
sign-in, rate limited per client address) sees only the public fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Principal, check_member_access, staff_or_members
from api.deps import Caller, DbSession
from api.fields import PLAIN_PATTERN, TEXT_PATTERN, LongText, ShortText, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.routes.identity import client_address
from domain.errors import InvalidInputError, TooManyAttemptsError
from domain.identity.rules import Role
from domain.network import profiles
from domain.network.rules import (
    MAX_RADIUS_KM,
    PUBLIC_DIRECTORY_LIMIT,
    Audience,
    ProfileInput,
    RateLimit,
    parse_near,
)
from domain.network.views import ProfileView

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
    city: Annotated[str, msgspec.Meta(max_length=200, pattern=PLAIN_PATTERN)] = ""
    postcode: Annotated[str, msgspec.Meta(max_length=50, pattern=PLAIN_PATTERN)] = ""
    country: Annotated[str, msgspec.Meta(max_length=200, pattern=PLAIN_PATTERN)] = ""
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
    access=staff_or_members,
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
    access=staff_or_members,
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
    float | None,
    Parameter(
        gt=0,
        le=MAX_RADIUS_KM,
        description="kilometres around `near` (default 25)",
        # Litestar leaves a bound of 0 out of the schema (it copies only truthy ones): stated here.
        schema_extra={"exclusiveMinimum": 0},
    ),
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
    access=staff_or_members,
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
