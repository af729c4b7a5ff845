"""Members, their status history and their consents."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now

# Member numbers are shown to people: sequential, never reused.
MEMBER_NUMBER_SEQ = sa.Sequence("member_number_seq", metadata=SQLModel.metadata)


class Member(SQLModel, table=True):
    """A business that belongs to the co-op (one member, one vote)."""

    __tablename__ = "member"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('applicant','probationary','full','resigning','former','suspended','expelled')", name="status"
        ),
        sa.CheckConstraint("share_par_cents > 0", name="par_positive"),
        # Stored normalized (trimmed, lower case), so this is the case-insensitive rule.
        sa.UniqueConstraint("email", name="uq_member_email"),
        sa.CheckConstraint("email = lower(btrim(email))", name="email_normalized"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_number: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger, MEMBER_NUMBER_SEQ, server_default=MEMBER_NUMBER_SEQ.next_value(), unique=True, nullable=False
        ),
    )
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    contact_name: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=16)
    share_par_cents: int = Field(sa_type=sa.BigInteger)
    joined_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    left_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    probation_ends_on: date | None = Field(default=None)
    resigns_on: date | None = Field(default=None)
    external_ref: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class MemberStatusChange(SQLModel, table=True):
    """One dated change of status, kept forever."""

    __tablename__ = "member_status_change"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    effective_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    reason: str = Field(default="", max_length=500)
    actor_user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    recorded_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class MemberConsent(SQLModel, table=True):
    """Subchapter T consent to include allocations in income (bylaw, written, or check endorsement)."""

    __tablename__ = "member_consent"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('bylaw','written','check_endorsement')", name="kind"),
        # One consent of each kind per member: recording it again answers the one on file.
        sa.UniqueConstraint("member_id", "kind", name="uq_member_consent_member_kind"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    kind: str = Field(max_length=24)
    received_on: date
    revoked_on: date | None = Field(default=None)


class ShareRedemptionDecision(SQLModel, table=True):
    """The board's decision on a leaving member's share: one per member, approval final."""

    __tablename__ = "share_redemption_decision"
    __table_args__ = (
        sa.CheckConstraint("decision IN ('approved','declined')", name="decision"),
        sa.CheckConstraint("payout_cents >= 0 AND set_off_cents >= 0", name="amounts_not_negative"),
    )

    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    decision: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    payout_cents: int = Field(default=0, sa_type=sa.BigInteger)
    set_off_cents: int = Field(default=0, sa_type=sa.BigInteger)
    decided_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    actor_user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
