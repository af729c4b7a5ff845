"""Patronage records: each a member's (or a non-member's) business with the co-op; never changed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class PatronageRecord(SQLModel, table=True):
    """One purchase for year-end allocation; UPDATE and DELETE are refused by a trigger.

    `member_business` is whether the buyer was a member at `occurred_at` (DOMAIN.md section 3:
    status at the transaction date decides). Corrections are new records with negative amounts.
    Source `sale` is a member-supplier's sales through the co-op (the marketing pool; its
    corrections are negative `sale` records), the other sources are members' purchases.
    """

    __tablename__ = "patronage_record"
    __table_args__ = (
        sa.CheckConstraint("source IN ('group_buy','import','correction','programme','sale')", name="source"),
        sa.CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        sa.CheckConstraint("member_id IS NOT NULL OR NOT member_business", name="member_business_has_member"),
        sa.CheckConstraint("source <> 'group_buy' OR group_buy_id IS NOT NULL", name="group_buy_source"),
        # Covering: the year-end aggregation reads only this index, in group order.
        sa.Index(
            "ix_patronage_record_fiscal_year_member_pool",
            "fiscal_year",
            "member_id",
            "pool",
            postgresql_include=["amount_cents", "member_business"],
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    member_business: bool
    fiscal_year: int
    pool: str = Field(max_length=50)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    source: str = Field(max_length=16)
    group_buy_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="group_buy.id", index=True)
    external_ref: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    source_key: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    recorded_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
