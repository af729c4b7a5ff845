"""Tables of the member network: profiles, the public directory's rate counters, offers and claims."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

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


class MemberOffer(SQLModel, table=True):
    """An offer a full member makes to the other members; `claimed` never passes the cap."""

    __tablename__ = "member_offer"
    __table_args__ = (
        sa.CheckConstraint("(discount_rate IS NULL) <> (price_cents IS NULL)", name="rate_or_price"),
        sa.CheckConstraint("discount_rate > 0 AND discount_rate <= 1", name="discount_rate_range"),
        sa.CheckConstraint("price_cents >= 0", name="price_not_negative"),
        sa.CheckConstraint("valid_until > valid_from", name="validity_ordered"),
        sa.CheckConstraint("max_redemptions >= 1", name="cap_positive"),
        sa.CheckConstraint("claimed >= 0 AND (max_redemptions IS NULL OR claimed <= max_redemptions)", name="cap_held"),
        sa.CheckConstraint("redeemed >= 0 AND redeemed <= claimed", name="redeemed_within_claimed"),
        sa.Index("ix_member_offer_valid_until", "valid_until"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(max_length=2000)
    discount_rate: Decimal | None = Field(default=None, sa_type=sa.Numeric(9, 6))
    price_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    valid_from: datetime = Field(sa_type=sa.DateTime(timezone=True))
    valid_until: datetime = Field(sa_type=sa.DateTime(timezone=True))
    max_redemptions: int | None = Field(default=None)
    terms: str | None = Field(default=None, max_length=2000)
    claimed: int = Field(default=0)
    redeemed: int = Field(default=0)
    created_by: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class OfferClaim(SQLModel, table=True):
    """A member's claim on an offer: one per member and offer, with a code the offering member redeems."""

    __tablename__ = "offer_claim"
    __table_args__ = (sa.UniqueConstraint("offer_id", "member_id", name="uq_offer_claim_offer_member"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    offer_id: int = Field(sa_type=sa.BigInteger, foreign_key="member_offer.id")
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    code: str = Field(max_length=64, unique=True)
    claimed_by: int = Field(sa_type=sa.BigInteger)
    claimed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    redeemed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    redeemed_by: int | None = Field(default=None, sa_type=sa.BigInteger)


class NetworkEvent(SQLModel, table=True):
    """An event, workshop or webinar staff publish; `taken` counts confirmed attendees, never past `capacity`."""

    __tablename__ = "network_event"
    __table_args__ = (
        sa.CheckConstraint("capacity >= 1", name="capacity_positive"),
        sa.CheckConstraint("taken >= 0 AND taken <= capacity", name="capacity_held"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("cancellation_deadline <= starts_at", name="deadline_before_start"),
        sa.CheckConstraint("member_price_cents >= 0 AND nonmember_price_cents >= 0", name="prices_not_negative"),
        sa.CheckConstraint("place IS NOT NULL OR online_url IS NOT NULL", name="somewhere"),
        sa.CheckConstraint("status IN ('proposed','published','declined')", name="status"),
        sa.Index("ix_network_event_starts_at", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    title: str = Field(max_length=200)
    description: str = Field(max_length=2000)
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    cancellation_deadline: datetime = Field(sa_type=sa.DateTime(timezone=True))
    place: str | None = Field(default=None, max_length=500)
    online_url: str | None = Field(default=None, max_length=500)
    capacity: int
    taken: int = Field(default=0)
    member_price_cents: int = Field(sa_type=sa.BigInteger)
    nonmember_price_cents: int = Field(sa_type=sa.BigInteger)
    created_by: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # Events staff published before proposals existed are published: the server default says so.
    status: str = Field(default="published", max_length=16, sa_column_kwargs={"server_default": "published"})
    proposed_by_member: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="member.id")
    decided_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class EventRegistration(SQLModel, table=True):
    """A member business's registration (several attendees), or staff's for one non-member (`guest_*`).

    Confirmed or waitlisted as a whole. A non-member's `fee_cents` is owed, not on any trade account.
    """

    __tablename__ = "event_registration"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "member_id", name="uq_event_registration_event_member"),
        # Non-members (no member_id) are told apart by e-mail: one registration per address and event.
        sa.UniqueConstraint("event_id", "guest_email", name="uq_event_registration_event_guest"),
        sa.CheckConstraint(
            "(member_id IS NULL)"
            " = (guest_email IS NOT NULL AND guest_name IS NOT NULL AND guest_organisation IS NOT NULL)",
            name="member_or_guest",
        ),
        sa.CheckConstraint("status IN ('confirmed','waitlisted','cancelled')", name="status"),
        sa.CheckConstraint("seats >= 1", name="seats_positive"),
        sa.CheckConstraint("fee_cents >= 0", name="fee_not_negative"),
        sa.CheckConstraint("attendance IN ('attended','no_show')", name="attendance"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    event_id: int = Field(sa_type=sa.BigInteger, foreign_key="network_event.id")
    member_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    guest_name: str | None = Field(default=None, max_length=200)
    guest_email: str | None = Field(default=None, max_length=320)
    guest_organisation: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=16)
    seats: int
    attendees: list[dict[str, str]] = Field(sa_column=sa.Column(postgresql.JSONB(), nullable=False))
    fee_cents: int = Field(sa_type=sa.BigInteger)
    fee_entry_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="journal_entry.id")
    registered_by: int = Field(sa_type=sa.BigInteger)
    registered_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    attendance: str | None = Field(default=None, max_length=16)
    attendance_recorded_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    attendance_recorded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Set by the network clock when the reminder is queued, so each registration is reminded once.
    reminded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
