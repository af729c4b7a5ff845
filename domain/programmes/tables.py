"""Supplier contracts, the purchases suppliers report under them, and the claims that bill rebates and fees."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


def _now_column() -> Any:  # noqa: ANN401 - a SQLModel field
    return Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class SupplierContract(SQLModel, table=True):
    """A supplier's programme: term, pool, rebate tiers (in `contract_tier`), fee and pass-through rates."""

    __tablename__ = "supplier_contract"
    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="term_ordered"),
        sa.CheckConstraint("period IN ('month','quarter','year')", name="period"),
        sa.CheckConstraint("rebate_mode IN ('retroactive','graduated')", name="rebate_mode"),
        sa.CheckConstraint("admin_fee_rate >= 0 AND admin_fee_rate <= 1", name="admin_fee_rate_range"),
        sa.CheckConstraint("pass_through_rate >= 0 AND pass_through_rate <= 1", name="pass_through_rate_range"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    supplier_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier.id", index=True)
    starts_on: date
    ends_on: date
    pool: str = Field(max_length=50)
    period: str = Field(max_length=16)
    rebate_mode: str = Field(max_length=16)
    admin_fee_rate: Decimal = Field(sa_type=sa.Numeric(9, 6))
    pass_through_rate: Decimal = Field(sa_type=sa.Numeric(9, 6))
    # False: only the members listed in `contract_member` may buy under it.
    all_members: bool
    created_at: datetime = _now_column()


class ContractTier(SQLModel, table=True):
    """One rebate tier of a contract: from `min_spend_cents` in a period on, `rate`."""

    __tablename__ = "contract_tier"
    __table_args__ = (
        sa.CheckConstraint("min_spend_cents >= 0", name="min_spend_not_negative"),
        sa.CheckConstraint("rate >= 0 AND rate <= 1", name="rate_range"),
    )

    contract_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier_contract.id", primary_key=True)
    min_spend_cents: int = Field(sa_type=sa.BigInteger, primary_key=True)
    rate: Decimal = Field(sa_type=sa.Numeric(9, 6))


class ContractMember(SQLModel, table=True):
    """A member eligible under a contract that lists its members."""

    __tablename__ = "contract_member"

    contract_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier_contract.id", primary_key=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True, index=True)


class PurchaseLine(SQLModel, table=True):
    """One reported purchase, kept whatever its fate; `external_ref` is unique per contract.

    Accepted lines carry the member and the period they count in; their patronage record is
    written with them (source key ``programme_line:<id>``). Unmatched lines wait for staff.
    """

    __tablename__ = "purchase_line"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "external_ref", name="uq_purchase_line_contract_external_ref"),
        sa.CheckConstraint("status IN ('accepted','unmatched','rejected')", name="status"),
        sa.CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        sa.CheckConstraint(
            "status <> 'accepted' OR (member_id IS NOT NULL AND period_start IS NOT NULL)", name="accepted_is_placed"
        ),
        # The accrual and the claim sum a contract's accepted lines per period and member.
        sa.Index(
            "ix_purchase_line_contract_period_member",
            "contract_id",
            "period_start",
            "member_id",
            postgresql_include=["amount_cents"],
            postgresql_where=sa.text("status = 'accepted'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    contract_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier_contract.id")
    external_ref: str = Field(max_length=200)
    member_number: int = Field(sa_type=sa.BigInteger)
    member_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="member.id")
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    amount_cents: int = Field(sa_type=sa.BigInteger)
    invoice_ref: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=40)
    period_start: date | None = None
    recorded_at: datetime = _now_column()
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Claim(SQLModel, table=True):
    """A period's rebate and fee billed to the supplier; one per contract period."""

    __tablename__ = "programme_claim"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "period_start", name="uq_programme_claim_contract_period"),
        sa.CheckConstraint("status IN ('open','short_paid','paid')", name="status"),
        sa.CheckConstraint("received_cents >= 0 AND received_cents <= rebate_cents + fee_cents", name="received"),
        sa.CheckConstraint("pass_through_cents >= 0 AND pass_through_cents <= rebate_cents", name="pass_through"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    contract_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier_contract.id")
    supplier_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier.id", index=True)
    period_start: date
    period_end: date
    spend_cents: int = Field(sa_type=sa.BigInteger)
    rebate_cents: int = Field(sa_type=sa.BigInteger)
    fee_cents: int = Field(sa_type=sa.BigInteger)
    pass_through_cents: int = Field(sa_type=sa.BigInteger)
    received_cents: int = Field(default=0, sa_type=sa.BigInteger)
    status: str = Field(max_length=16)
    created_at: datetime = _now_column()
    paid_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ClaimMember(SQLModel, table=True):
    """A member's spend in the claimed period and share of the pass-through, fixed when the claim is made."""

    __tablename__ = "programme_claim_member"
    __table_args__ = (
        sa.CheckConstraint("spend_cents >= 0", name="spend_not_negative"),
        sa.CheckConstraint("pass_through_cents >= 0", name="pass_through_not_negative"),
    )

    claim_id: int = Field(sa_type=sa.BigInteger, foreign_key="programme_claim.id", primary_key=True)
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", primary_key=True)
    spend_cents: int = Field(sa_type=sa.BigInteger)
    pass_through_cents: int = Field(sa_type=sa.BigInteger)


class ClaimReceipt(SQLModel, table=True):
    """Money received from the supplier against a claim."""

    __tablename__ = "programme_claim_receipt"
    __table_args__ = (sa.CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    claim_id: int = Field(sa_type=sa.BigInteger, foreign_key="programme_claim.id", index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    received_on: date
    reference: str = Field(max_length=200)
    recorded_at: datetime = _now_column()


class PoolExpense(SQLModel, table=True):
    """An expense staff entered against one pool; posted to the ledger as entry `pool_expense:<id>`."""

    __tablename__ = "pool_expense"
    __table_args__ = (
        sa.CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        sa.CheckConstraint("paid_from IN ('bank','cash','accrued')", name="paid_from"),
        sa.Index("ix_pool_expense_fiscal_year_pool", "fiscal_year", "pool"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    pool: str = Field(max_length=50)
    incurred_on: date
    fiscal_year: int
    amount_cents: int = Field(sa_type=sa.BigInteger)
    paid_from: str = Field(max_length=16)
    description: str = Field(max_length=500)
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = _now_column()
