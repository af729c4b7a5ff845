"""Member profiles and the directory: who sees which field, search by name, category and distance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from domain.catalog.tables import Supplier
from domain.errors import NotFoundError
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.network.rules import (
    EARTH_RADIUS_KM,
    LISTED_STATUSES,
    PROFILE_FIELDS,
    Audience,
    Near,
    ProfileInput,
    RateLimit,
    check_profile_writer,
    checked_profile,
    filter_fields,
    levels_seen,
    like_pattern,
    rate_retry_after,
    window_start,
)
from domain.network.standing import locked_status
from domain.network.tables import (
    DirectoryRateWindow,
    MemberProfile,
)
from domain.network.views import ProfileView

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

_PROFILE = MemberProfile.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models


async def save_profile(session: AsyncSession, member_id: int, given: ProfileInput, now: datetime) -> ProfileView:
    """Create or replace the member's profile; a member that has left keeps none (409)."""
    profile = checked_profile(given)
    check_profile_writer(member_id, await locked_status(session, member_id))
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
