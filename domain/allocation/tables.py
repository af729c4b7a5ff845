"""Allocation runs and their per-member lines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class AllocationRun(SQLModel, table=True):
    """One computation of a fiscal year's allocation; at most one per year is ever posted."""

    __tablename__ = "allocation_run"
    __table_args__ = (
        sa.CheckConstraint("status IN ('computing','computed','posted','failed')", name="status"),
        sa.Index(
            "uq_allocation_run_posted_fiscal_year",
            "fiscal_year",
            unique=True,
            postgresql_where=sa.text("status = 'posted'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    fiscal_year: int = Field(index=True)
    status: str = Field(max_length=16)
    payment_date: date
    request: dict[str, Any] = Field(sa_type=JSONB)
    totals: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    # With margins taken from the books: each pool's figures as the run took them (and closes them).
    margin_derivation: list[dict[str, Any]] | None = Field(default=None, sa_type=JSONB)
    failure_reason: str | None = Field(default=None, max_length=2000)
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    computed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    posted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class AllocationLine(SQLModel, table=True):
    """One member's allocation in a run, keyed by the run and the member (0043: no surrogate id)."""

    __tablename__ = "allocation_line"

    run_id: int = Field(primary_key=True, sa_type=sa.BigInteger)  # allocation_run.id, checked per statement (0036)
    # member.id, checked per statement (0036). No index of its own (0039): a member's notices are
    # found run by run through the primary key (run_id, member_id).
    member_id: int = Field(primary_key=True, sa_type=sa.BigInteger)
    member_number: int = Field(sa_type=sa.BigInteger)
    patronage_cents: int = Field(sa_type=sa.BigInteger)
    computed_cents: int = Field(sa_type=sa.BigInteger)
    allocation_cents: int = Field(sa_type=sa.BigInteger)
    cash_cents: int = Field(sa_type=sa.BigInteger)
    retained_cents: int = Field(sa_type=sa.BigInteger)
    loan_deduction_cents: int = Field(default=0, sa_type=sa.BigInteger)
    qualified: bool
    below_minimum: bool
