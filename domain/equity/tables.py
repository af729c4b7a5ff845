"""Equity lots (retained equity a member holds, one per fiscal year and kind) and their redemptions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now
from domain.equity.rules import RedemptionRunStatus


class EquityLot(SQLModel, table=True):
    """A lot in the subsidiary ledger of retained equity (migration 0041).

    Its face is fixed when it is written, by the entry that credits the retained equity account
    with it (``entry_id``); every later movement is a posting that names the lot. A lot written
    before 0041 has its own account (``account_id``), which its movements still post to.
    """

    __tablename__ = "equity_lot"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('retained_patronage','imported')", name="kind"),
        sa.CheckConstraint("face_cents > 0", name="face_positive"),
        sa.Index("ix_equity_lot_fiscal_year_member", "fiscal_year", "member_id"),
        # Only an imported lot has the sender's key; retained lots (100,000 a year end) stay out (0039).
        sa.Index(
            "uq_equity_lot_external_ref",
            "external_ref",
            unique=True,
            postgresql_where=sa.text("external_ref IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, index=True)  # member.id, checked per statement (0033)
    fiscal_year: int
    kind: str = Field(max_length=24)
    qualified: bool
    face_cents: int = Field(sa_type=sa.BigInteger)
    entry_id: int = Field(sa_type=sa.BigInteger)  # journal_entry.id, checked per statement (0041)
    # ledger_account.id of a lot written before 0041, checked per statement (0033)
    account_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    external_ref: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class RedemptionRun(SQLModel, table=True):
    """A board decision to redeem retained equity: computed once, posted at most once.

    The budget inputs are kept so the run explains itself: ``budget_cents`` is the
    board's budget, capped by cash and the equity-ratio rule when those were given.
    """

    __tablename__ = "redemption_run"
    __table_args__ = (
        sa.CheckConstraint("method IN ('fifo','percentage')", name="method"),
        sa.CheckConstraint("status IN ('computed','posted')", name="status"),
        sa.CheckConstraint("budget_cents >= 0 AND budget_cents <= board_budget_cents", name="budget_in_range"),
        sa.CheckConstraint("redeemed_cents >= 0 AND redeemed_cents <= budget_cents", name="within_budget"),
        sa.CheckConstraint(
            "equity_ratio_floor IS NULL OR (equity_ratio_floor >= 0 AND equity_ratio_floor < 1)", name="ratio"
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    method: str = Field(max_length=16)
    status: str = Field(default=RedemptionRunStatus.COMPUTED.value, max_length=16)
    as_of: date
    board_budget_cents: int = Field(sa_type=sa.BigInteger)
    cash_available_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    minimum_cash_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    equity_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    assets_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    equity_ratio_floor: Decimal | None = Field(default=None, sa_type=sa.Numeric(9, 6))
    budget_cents: int = Field(sa_type=sa.BigInteger)
    outstanding_cents: int = Field(sa_type=sa.BigInteger)
    """Outstanding face of every lot the run considered, when it was computed."""
    redeemed_cents: int = Field(sa_type=sa.BigInteger)
    line_count: int
    member_count: int
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    posted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class RedemptionLine(SQLModel, table=True):
    """What one lot gives up in a run; approval posts ``amount_cents`` against the lot."""

    __tablename__ = "redemption_line"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.UniqueConstraint("run_id", "lot_id", name="uq_redemption_line_run_lot"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    run_id: int = Field(sa_type=sa.BigInteger)  # redemption_run.id, checked per statement (0036)
    # (lot_id, member_id) is a lot and its own member, (equity_lot.id, equity_lot.member_id): one key checked
    # per statement (0038; 0035 made the two keys one). Read by run, never by lot, so lot_id has no index.
    lot_id: int = Field(sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, index=True)
    member_number: int = Field(sa_type=sa.BigInteger)
    fiscal_year: int
    qualified: bool
    amount_cents: int = Field(sa_type=sa.BigInteger)


class SpecialRedemption(SQLModel, table=True):
    """A member's whole outstanding equity redeemed early (death, retirement, exit) at present value.

    One per member and date: the same request again finds this row.
    """

    __tablename__ = "special_redemption"
    __table_args__ = (
        sa.CheckConstraint("reason IN ('death','retirement','exit')", name="reason"),
        sa.CheckConstraint("discount_rate >= 0 AND discount_rate <= 1", name="rate"),
        sa.CheckConstraint("revolving_years >= 0", name="revolving_years"),
        sa.CheckConstraint("present_value_cents + discount_cents = outstanding_cents", name="adds_up"),
        sa.CheckConstraint("set_off_cents + payout_cents = present_value_cents", name="paid_out"),
        sa.UniqueConstraint("member_id", "as_of", name="uq_special_redemption_member_as_of"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id")
    reason: str = Field(max_length=16)
    as_of: date
    discount_rate: Decimal = Field(sa_type=sa.Numeric(9, 6))
    revolving_years: int
    outstanding_cents: int = Field(default=0, sa_type=sa.BigInteger)
    present_value_cents: int = Field(default=0, sa_type=sa.BigInteger)
    discount_cents: int = Field(default=0, sa_type=sa.BigInteger)
    set_off_cents: int = Field(default=0, sa_type=sa.BigInteger)
    payout_cents: int = Field(default=0, sa_type=sa.BigInteger)
    payout_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="payout.id")
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class SpecialRedemptionLine(SQLModel, table=True):
    """One lot in a special redemption: its outstanding face, present value and discount."""

    __tablename__ = "special_redemption_line"
    __table_args__ = (
        sa.CheckConstraint("present_value_cents + discount_cents = outstanding_cents", name="adds_up"),
        sa.CheckConstraint(
            "outstanding_cents > 0 AND present_value_cents >= 0 AND discount_cents >= 0", name="amounts"
        ),
        sa.UniqueConstraint("special_redemption_id", "lot_id", name="uq_special_redemption_line_redemption_lot"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    special_redemption_id: int = Field(sa_type=sa.BigInteger, foreign_key="special_redemption.id")
    lot_id: int = Field(sa_type=sa.BigInteger, foreign_key="equity_lot.id", index=True)
    fiscal_year: int
    qualified: bool
    outstanding_cents: int = Field(sa_type=sa.BigInteger)
    years: int
    present_value_cents: int = Field(sa_type=sa.BigInteger)
    discount_cents: int = Field(sa_type=sa.BigInteger)
