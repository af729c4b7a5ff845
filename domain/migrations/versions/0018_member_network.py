"""The member network: directory profiles, the public directory's rate counters, offers among members.

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
down_revision: str | None = "0013"
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


def downgrade() -> None:
    op.drop_table("directory_rate_window")
    op.drop_index("ix_member_profile_categories", table_name="member_profile", postgresql_using="gin")
    op.drop_table("member_profile")
