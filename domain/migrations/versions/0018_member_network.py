"""The member network: directory profiles, the public directory's rate counters, offers among members, events.

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_profile",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("postcode", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("visibility", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "(latitude IS NULL) = (longitude IS NULL)", name=op.f("ck_member_profile_coordinates_paired")
        ),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_member_profile_latitude_range")),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name=op.f("ck_member_profile_longitude_range")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_member_profile_member_id_member")),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_profile")),
    )
    op.create_index("ix_member_profile_categories", "member_profile", ["categories"], postgresql_using="gin")
    op.create_table(
        "directory_rate_window",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_directory_rate_window")),
    )
    op.create_table(
        "member_offer",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("discount_rate", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("price_cents", sa.BigInteger(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("terms", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.Column("redeemed", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(discount_rate IS NULL) <> (price_cents IS NULL)", name=op.f("ck_member_offer_rate_or_price")),
        sa.CheckConstraint(
            "discount_rate > 0 AND discount_rate <= 1", name=op.f("ck_member_offer_discount_rate_range")
        ),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_member_offer_price_not_negative")),
        sa.CheckConstraint("valid_until > valid_from", name=op.f("ck_member_offer_validity_ordered")),
        sa.CheckConstraint("max_redemptions >= 1", name=op.f("ck_member_offer_cap_positive")),
        sa.CheckConstraint(
            "claimed >= 0 AND (max_redemptions IS NULL OR claimed <= max_redemptions)",
            name=op.f("ck_member_offer_cap_held"),
        ),
        sa.CheckConstraint(
            "redeemed >= 0 AND redeemed <= claimed", name=op.f("ck_member_offer_redeemed_within_claimed")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_member_offer_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_offer")),
    )
    op.create_index(op.f("ix_member_offer_member_id"), "member_offer", ["member_id"], unique=False)
    op.create_index("ix_member_offer_valid_until", "member_offer", ["valid_until"], unique=False)
    op.create_table(
        "offer_claim",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("claimed_by", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_offer_claim_member_id_member")),
        sa.ForeignKeyConstraint(["offer_id"], ["member_offer.id"], name=op.f("fk_offer_claim_offer_id_member_offer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer_claim")),
        sa.UniqueConstraint("code", name=op.f("uq_offer_claim_code")),
        sa.UniqueConstraint("offer_id", "member_id", name="uq_offer_claim_offer_member"),
    )
    op.create_index(op.f("ix_offer_claim_member_id"), "offer_claim", ["member_id"], unique=False)
    op.create_table(
        "network_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancellation_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("online_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("member_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("nonmember_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_network_event_capacity_positive")),
        sa.CheckConstraint("taken >= 0 AND taken <= capacity", name=op.f("ck_network_event_capacity_held")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_network_event_ends_after_start")),
        sa.CheckConstraint(
            "cancellation_deadline <= starts_at", name=op.f("ck_network_event_deadline_before_start")
        ),
        sa.CheckConstraint(
            "member_price_cents >= 0 AND nonmember_price_cents >= 0", name=op.f("ck_network_event_prices_not_negative")
        ),
        sa.CheckConstraint("place IS NOT NULL OR online_url IS NOT NULL", name=op.f("ck_network_event_somewhere")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_event")),
    )
    op.create_index("ix_network_event_starts_at", "network_event", ["starts_at"], unique=False)
    op.create_table(
        "event_registration",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("attendees", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("registered_by", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('confirmed','waitlisted','cancelled')", name=op.f("ck_event_registration_status")),
        sa.CheckConstraint("seats >= 1", name=op.f("ck_event_registration_seats_positive")),
        sa.CheckConstraint("fee_cents >= 0", name=op.f("ck_event_registration_fee_not_negative")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["network_event.id"], name=op.f("fk_event_registration_event_id_network_event")
        ),
        sa.ForeignKeyConstraint(
            ["fee_entry_id"], ["journal_entry.id"], name=op.f("fk_event_registration_fee_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_event_registration_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_registration")),
        sa.UniqueConstraint("event_id", "member_id", name="uq_event_registration_event_member"),
    )
    op.create_index(op.f("ix_event_registration_member_id"), "event_registration", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_event_registration_member_id"), table_name="event_registration")
    op.drop_table("event_registration")
    op.drop_index("ix_network_event_starts_at", table_name="network_event")
    op.drop_table("network_event")
    op.drop_index(op.f("ix_offer_claim_member_id"), table_name="offer_claim")
    op.drop_table("offer_claim")
    op.drop_index("ix_member_offer_valid_until", table_name="member_offer")
    op.drop_index(op.f("ix_member_offer_member_id"), table_name="member_offer")
    op.drop_table("member_offer")
    op.drop_table("directory_rate_window")
    op.drop_index("ix_member_profile_categories", table_name="member_profile", postgresql_using="gin")
    op.drop_table("member_profile")
