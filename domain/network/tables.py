"""Tables of the member network: profiles, the public directory's rate counters, offers and claims."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class MemberProfile(SQLModel, table=True):
    """A member business's directory profile (opt-in through `listed`), one per member.

    Whether it shows is never stored here: the directory reads the member's status when it
    is asked, so a suspended or departed member drops out the moment its status changes.
    `visibility` holds one level per field (staff / members / public), always complete.
    """

    __tablename__ = "member_profile"
    __table_args__ = (
        sa.CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="coordinates_paired"),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        sa.Index("ix_member_profile_categories", "categories", postgresql_using="gin"),
    )

    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    listed: bool
    description: str = Field(max_length=2000)
    categories: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.String(50)), nullable=False))
    services: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.String(200)), nullable=False))
    city: str = Field(max_length=200)
    postcode: str = Field(max_length=50)
    country: str = Field(max_length=200)
    latitude: float | None = Field(default=None, sa_type=sa.Double)
    longitude: float | None = Field(default=None, sa_type=sa.Double)
    website: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=50)
    visibility: dict[str, str] = Field(sa_column=sa.Column(postgresql.JSONB(), nullable=False))
    updated_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class DirectoryRateWindow(SQLModel, table=True):
    """Requests of one client address to the public directory in the current fixed window.

    In PostgreSQL, as the sign-in throttle is, so every API replica counts alike.
    """

    __tablename__ = "directory_rate_window"

    key: str = Field(primary_key=True, max_length=400)
    window_start: datetime = Field(sa_type=sa.DateTime(timezone=True))
    hits: int
