"""Governance, second part: general meetings (agenda, attendance, minutes immutable once approved), petitions,
proxies marked when used (revocable until then), recorded votes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Minutes are the record of a meeting: once the next meeting approves them, they never change.
IMMUTABLE = (
    """
CREATE FUNCTION meeting_minutes_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.approved_at IS NOT NULL THEN
        RAISE EXCEPTION 'approved minutes are immutable (%)', TG_OP USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$
""",
    """
CREATE TRIGGER meeting_minutes_immutable BEFORE UPDATE OR DELETE ON meeting_minutes
    FOR EACH ROW EXECUTE FUNCTION meeting_minutes_immutable()
""",
)


def upgrade() -> None:
    op.add_column("ballot_proxy", sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "recorded_vote",
        sa.Column("ballot_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("choice", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("ranking", postgresql.ARRAY(sa.BigInteger()), nullable=True),
        sa.CheckConstraint("choice IS NULL OR choice IN ('yes','no','abstain')", name=op.f("ck_recorded_vote_choice")),
        sa.CheckConstraint("(choice IS NULL) <> (ranking IS NULL)", name=op.f("ck_recorded_vote_choice_or_ranking")),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_recorded_vote_ballot_id_ballot")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_recorded_vote_member_id_member")),
        sa.PrimaryKeyConstraint("ballot_id", "member_id", name=op.f("pk_recorded_vote")),
    )
    op.create_table(
        "meeting",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_date", sa.Date(), nullable=False),
        sa.Column("quorum_rate", sa.Numeric(9, 6), nullable=False),
        sa.Column("notice_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('agm','egm')", name=op.f("ck_meeting_kind")),
        sa.CheckConstraint("quorum_rate BETWEEN 0 AND 1", name=op.f("ck_meeting_quorum_rate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting")),
    )
    op.create_index("ix_meeting_starts_at", "meeting", ["starts_at"], unique=False)
    op.create_table(
        "meeting_item",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("ballot_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_meeting_item_ballot_id_ballot")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_item_meeting_id_meeting")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_item")),
        sa.UniqueConstraint("ballot_id", name=op.f("uq_meeting_item_ballot_id")),
        sa.UniqueConstraint("meeting_id", "position", name="uq_meeting_item_position"),
    )
    op.create_table(
        "meeting_attendance",
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("mode IN ('in_person','online')", name=op.f("ck_meeting_attendance_mode")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_attendance_meeting_id_meeting")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_meeting_attendance_member_id_member")),
        sa.PrimaryKeyConstraint("meeting_id", "member_id", name=op.f("pk_meeting_attendance")),
    )
    op.create_table(
        "meeting_minutes",
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at_meeting_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(approved_at IS NULL) = (approved_at_meeting_id IS NULL)",
            name=op.f("ck_meeting_minutes_approval_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_at_meeting_id"], ["meeting.id"], name=op.f("fk_meeting_minutes_approved_at_meeting_id_meeting")
        ),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_minutes_meeting_id_meeting")),
        sa.PrimaryKeyConstraint("meeting_id", name=op.f("pk_meeting_minutes")),
    )
    op.create_table(
        "petition",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opened_by_member_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("needed_at_met", sa.Integer(), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meeting_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('egm','bylaw_amendment')", name=op.f("ck_petition_kind")),
        sa.CheckConstraint("status IN ('open','met','scheduled')", name=op.f("ck_petition_status")),
        sa.CheckConstraint("(status = 'open') = (met_at IS NULL)", name=op.f("ck_petition_met_at_when_met")),
        sa.CheckConstraint(
            "(status = 'scheduled') = (meeting_id IS NOT NULL)", name=op.f("ck_petition_meeting_when_scheduled")
        ),
        sa.CheckConstraint("status <> 'scheduled' OR kind = 'egm'", name=op.f("ck_petition_only_egm_scheduled")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_petition_meeting_id_meeting")),
        sa.ForeignKeyConstraint(
            ["opened_by_member_id"], ["member.id"], name=op.f("fk_petition_opened_by_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petition")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_petition_meeting_id")),
    )
    op.create_table(
        "petition_signature",
        sa.Column("petition_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_petition_signature_member_id_member")),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petition.id"], name=op.f("fk_petition_signature_petition_id_petition")
        ),
        sa.PrimaryKeyConstraint("petition_id", "member_id", name=op.f("pk_petition_signature")),
    )
    for statement in IMMUTABLE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER meeting_minutes_immutable ON meeting_minutes")
    op.execute("DROP FUNCTION meeting_minutes_immutable()")
    op.drop_table("petition_signature")
    op.drop_table("petition")
    op.drop_table("meeting_minutes")
    op.drop_table("meeting_attendance")
    op.drop_table("meeting_item")
    op.drop_index("ix_meeting_starts_at", table_name="meeting")
    op.drop_table("meeting")
    op.drop_table("recorded_vote")
    op.drop_column("ballot_proxy", "used_at")
