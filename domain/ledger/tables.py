"""Ledger tables. Append-only and balance guards live in the migration (triggers)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class Account(SQLModel, table=True):
    """A ledger account: the co-op's own, or one of a member's (trade, capital)."""

    __tablename__ = "ledger_account"
    __table_args__ = (sa.CheckConstraint("kind IN ('asset','liability','equity','income','expense')", name="kind"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    code: str = Field(sa_column_kwargs={"unique": True}, max_length=200)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    # member.id, checked per statement (0033)
    member_id: int | None = Field(default=None, sa_type=sa.BigInteger, index=True)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class JournalEntry(SQLModel, table=True):
    """One business event that moved money; never edited, corrected by reversal."""

    __tablename__ = "journal_entry"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    kind: str = Field(max_length=64)
    memo: str = Field(default="", max_length=500)
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    recorded_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    idempotency_key: str = Field(sa_column_kwargs={"unique": True}, max_length=200)
    reverses_id: int | None = Field(
        default=None, sa_type=sa.BigInteger, foreign_key="journal_entry.id", sa_column_kwargs={"unique": True}
    )


class Posting(SQLModel, table=True):
    """One leg of an entry: a positive amount on the debit or credit side of an account."""

    __tablename__ = "posting"
    __table_args__ = (
        sa.CheckConstraint("side IN ('debit','credit')", name="side"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        # Covering: an account's balance is an index-only scan of its entries (a lot's outstanding
        # in a redemption run, migration 0035).
        sa.Index("ix_posting_account_id", "account_id", postgresql_include=["side", "amount_cents"]),
        # A lot's outstanding is its face and an index-only scan of its postings (migration 0041).
        sa.Index(
            "ix_posting_equity_lot_id",
            "equity_lot_id",
            postgresql_include=["side", "amount_cents"],
            postgresql_where=sa.text("equity_lot_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    entry_id: int = Field(sa_type=sa.BigInteger, index=True)  # journal_entry.id, checked per statement (0033)
    account_id: int = Field(sa_type=sa.BigInteger)  # ledger_account.id, checked per statement (0033)
    side: str = Field(max_length=6)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    # equity_lot.id: a movement of that lot, on the retained equity account (checked per statement, 0041)
    equity_lot_id: int | None = Field(default=None, sa_type=sa.BigInteger)
