"""The member network, the rest of events: attendance, reminders, member-proposed events,
non-member registrations.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("event_registration", "member_id", existing_type=sa.BigInteger(), nullable=True)
    for column, length in (("guest_name", 200), ("guest_email", 320), ("guest_organisation", 200)):
        op.add_column(
            "event_registration", sa.Column(column, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)
        )
    op.create_unique_constraint(
        op.f("uq_event_registration_event_guest"), "event_registration", ["event_id", "guest_email"]
    )
    op.create_check_constraint(
        op.f("ck_event_registration_member_or_guest"),
        "event_registration",
        "(member_id IS NULL)"
        " = (guest_email IS NOT NULL AND guest_name IS NOT NULL AND guest_organisation IS NOT NULL)",
    )
    op.add_column(
        "network_event",
        sa.Column(
            "status", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="published", nullable=False
        ),
    )
    op.add_column("network_event", sa.Column("proposed_by_member", sa.BigInteger(), nullable=True))
    op.add_column("network_event", sa.Column("decided_by", sa.BigInteger(), nullable=True))
    op.add_column("network_event", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_network_event_proposed_by_member_member"), "network_event", "member", ["proposed_by_member"], ["id"]
    )
    op.create_check_constraint(
        op.f("ck_network_event_status"), "network_event", "status IN ('proposed','published','declined')"
    )
    op.add_column(
        "event_registration", sa.Column("attendance", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
    )
    op.add_column("event_registration", sa.Column("attendance_recorded_by", sa.BigInteger(), nullable=True))
    op.add_column(
        "event_registration", sa.Column("attendance_recorded_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("event_registration", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_event_registration_attendance"), "event_registration", "attendance IN ('attended','no_show')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM event_registration WHERE member_id IS NULL")
    op.drop_constraint(op.f("ck_event_registration_member_or_guest"), "event_registration", type_="check")
    op.drop_constraint(op.f("uq_event_registration_event_guest"), "event_registration", type_="unique")
    for column in ("guest_organisation", "guest_email", "guest_name"):
        op.drop_column("event_registration", column)
    op.alter_column("event_registration", "member_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_constraint(op.f("ck_network_event_status"), "network_event", type_="check")
    op.drop_constraint(op.f("fk_network_event_proposed_by_member_member"), "network_event", type_="foreignkey")
    op.drop_column("network_event", "decided_at")
    op.drop_column("network_event", "decided_by")
    op.drop_column("network_event", "proposed_by_member")
    op.drop_column("network_event", "status")
    op.drop_constraint(op.f("ck_event_registration_attendance"), "event_registration", type_="check")
    op.drop_column("event_registration", "reminded_at")
    op.drop_column("event_registration", "attendance_recorded_at")
    op.drop_column("event_registration", "attendance_recorded_by")
    op.drop_column("event_registration", "attendance")
