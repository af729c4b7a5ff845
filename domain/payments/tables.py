"""Payouts: cash the co-op owes a member, from approval until paid (or void)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class Payout(SQLModel, table=True):
    """One payout instruction; every change of its status is also a ledger entry."""

    __tablename__ = "payout"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('patronage_cash','equity_redemption','share_redemption','preferred_dividend')", name="kind"
        ),
        sa.CheckConstraint("status IN ('pending','paid','failed','void','unclaimed')", name="status"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    kind: str = Field(max_length=24)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default="pending", max_length=16, index=True)
    method: str | None = Field(default=None, max_length=24)
    reference: str | None = Field(default=None, max_length=200)
    business_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    paid_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class PayoutEvent(SQLModel, table=True):
    """One change of a payout's status, with who, why, the reference and the ledger entry (if money moved)."""

    __tablename__ = "payout_event"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    payout_id: int = Field(sa_type=sa.BigInteger, foreign_key="payout.id", index=True)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    reference: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500)
    amount_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    entry_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="journal_entry.id")
    actor_user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    occurred_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
