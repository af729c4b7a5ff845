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


_GROUP = ("fiscal_year", "member_id", "pool", "member_business")


class _GroupSums(SQLModel):
    """A patronage group (fiscal year, member, pool, kind of business) with its records' sum and count."""

    fiscal_year: int
    member_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    pool: str = Field(max_length=50)
    member_business: bool
    amount_cents: int = Field(sa_type=sa.BigInteger)
    record_count: int = Field(sa_type=sa.BigInteger)


class PatronageTotal(_GroupSums, table=True):
    """A fiscal year's patronage per (member, pool, kind of business), kept current as records are written.

    `amount_cents` and `record_count` always equal the SUM and COUNT of the group's committed
    records, so the year end reads one row per group instead of re-summing every record.
    Kept by triggers (migration 0030): each INSERT's new records are summed into
    `patronage_total_pending` under the transaction, and added here at COMMIT in one upsert in
    key order (so writers for the same members never deadlock). Rows are written only by that
    trigger (a by-hand write is refused). Non-member business with no member is one group per
    year and pool: the key treats NULL member as one value. No check on the amount: corrections
    make a group's sum negative or zero, as they do its records'.
    """

    __tablename__ = "patronage_total"
    __table_args__ = (
        sa.UniqueConstraint(*_GROUP, name="uq_patronage_total_group", postgresql_nulls_not_distinct=True),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)


class PatronageTotalPending(_GroupSums, table=True):
    """A transaction's new records summed per group, until its COMMIT adds them to `patronage_total`.

    Unlogged: a row lives only inside its transaction (deleted by the flush before commit).
    """

    __tablename__ = "patronage_total_pending"
    __table_args__ = (
        sa.UniqueConstraint(
            "txid", *_GROUP, name="uq_patronage_total_pending_group", postgresql_nulls_not_distinct=True
        ),
        {"prefixes": ["UNLOGGED"]},
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    txid: int = Field(sa_type=sa.BigInteger)


class PatronageTotalFlush(SQLModel, table=True):
    """One row per transaction with pending sums: its deferred trigger adds them to the totals at COMMIT."""

    __tablename__ = "patronage_total_flush"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    txid: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
