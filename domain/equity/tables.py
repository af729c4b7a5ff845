"""Equity lots: retained equity a member holds, one lot per fiscal year and kind."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class EquityLot(SQLModel, table=True):
    """A lot's face and redemptions live in its own ledger account; this row says what it is."""

    __tablename__ = "equity_lot"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('retained_patronage','imported')", name="kind"),
        sa.Index("ix_equity_lot_fiscal_year_member", "fiscal_year", "member_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    fiscal_year: int
    kind: str = Field(max_length=24)
    qualified: bool
    account_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="ledger_account.id")
    external_ref: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    source_key: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(
        default_factory=_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
