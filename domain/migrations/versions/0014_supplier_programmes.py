"""Supplier programmes: contracts, their tiers and members, reported purchase lines, claims and receipts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCE = "ck_patronage_record_source"


def _now() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    # Purchases reported under a contract are patronage of their own source.
    op.drop_constraint(op.f(_SOURCE), "patronage_record", type_="check")
    op.create_check_constraint(
        op.f(_SOURCE), "patronage_record", "source IN ('group_buy','import','correction','programme')"
    )
    op.create_table(
        "supplier_contract",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("pool", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rebate_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("admin_fee_rate", sa.Numeric(9, 6), nullable=False),
        sa.Column("pass_through_rate", sa.Numeric(9, 6), nullable=False),
        sa.Column("all_members", sa.Boolean(), nullable=False),
        _now(),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_supplier_contract_term_ordered")),
        sa.CheckConstraint("period IN ('month','quarter','year')", name=op.f("ck_supplier_contract_period")),
        sa.CheckConstraint("rebate_mode IN ('retroactive','graduated')", name=op.f("ck_supplier_contract_rebate_mode")),
        sa.CheckConstraint(
            "admin_fee_rate >= 0 AND admin_fee_rate <= 1", name=op.f("ck_supplier_contract_admin_fee_rate_range")
        ),
        sa.CheckConstraint(
            "pass_through_rate >= 0 AND pass_through_rate <= 1",
            name=op.f("ck_supplier_contract_pass_through_rate_range"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_supplier_contract_supplier_id_supplier")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_contract")),
    )
    op.create_index(op.f("ix_supplier_contract_supplier_id"), "supplier_contract", ["supplier_id"], unique=False)
    op.create_table(
        "contract_tier",
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("min_spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.Numeric(9, 6), nullable=False),
        sa.CheckConstraint("min_spend_cents >= 0", name=op.f("ck_contract_tier_min_spend_not_negative")),
        sa.CheckConstraint("rate >= 0 AND rate <= 1", name=op.f("ck_contract_tier_rate_range")),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["supplier_contract.id"], name=op.f("fk_contract_tier_contract_id_supplier_contract")
        ),
        sa.PrimaryKeyConstraint("contract_id", "min_spend_cents", name=op.f("pk_contract_tier")),
    )
    op.create_table(
        "contract_member",
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["supplier_contract.id"], name=op.f("fk_contract_member_contract_id_supplier_contract")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_contract_member_member_id_member")),
        sa.PrimaryKeyConstraint("contract_id", "member_id", name=op.f("pk_contract_member")),
    )
    op.create_index(op.f("ix_contract_member_member_id"), "contract_member", ["member_id"], unique=False)
    op.create_table(
        "purchase_line",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("member_number", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("invoice_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('accepted','unmatched','rejected')", name=op.f("ck_purchase_line_status")),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_purchase_line_amount_not_zero")),
        sa.CheckConstraint(
            "status <> 'accepted' OR (member_id IS NOT NULL AND period_start IS NOT NULL)",
            name=op.f("ck_purchase_line_accepted_is_placed"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["supplier_contract.id"], name=op.f("fk_purchase_line_contract_id_supplier_contract")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_purchase_line_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_line")),
        sa.UniqueConstraint("contract_id", "external_ref", name="uq_purchase_line_contract_external_ref"),
    )
    op.create_index(
        "ix_purchase_line_contract_period_member",
        "purchase_line",
        ["contract_id", "period_start", "member_id"],
        postgresql_include=["amount_cents"],
        postgresql_where=sa.text("status = 'accepted'"),
    )
    op.create_table(
        "programme_claim",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("rebate_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("pass_through_cents", sa.BigInteger(), nullable=False),
        sa.Column("received_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        _now(),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open','short_paid','paid')", name=op.f("ck_programme_claim_status")),
        sa.CheckConstraint(
            "received_cents >= 0 AND received_cents <= rebate_cents + fee_cents",
            name=op.f("ck_programme_claim_received"),
        ),
        sa.CheckConstraint(
            "pass_through_cents >= 0 AND pass_through_cents <= rebate_cents",
            name=op.f("ck_programme_claim_pass_through"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["supplier_contract.id"], name=op.f("fk_programme_claim_contract_id_supplier_contract")
        ),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"], name=op.f("fk_programme_claim_supplier_id_supplier")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_claim")),
        sa.UniqueConstraint("contract_id", "period_start", name="uq_programme_claim_contract_period"),
    )
    op.create_index(op.f("ix_programme_claim_supplier_id"), "programme_claim", ["supplier_id"], unique=False)
    op.create_table(
        "programme_claim_member",
        sa.Column("claim_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("pass_through_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("spend_cents >= 0", name=op.f("ck_programme_claim_member_spend_not_negative")),
        sa.CheckConstraint("pass_through_cents >= 0", name=op.f("ck_programme_claim_member_pass_through_not_negative")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["programme_claim.id"], name=op.f("fk_programme_claim_member_claim_id_programme_claim")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_programme_claim_member_member_id_member")),
        sa.PrimaryKeyConstraint("claim_id", "member_id", name=op.f("pk_programme_claim_member")),
    )
    op.create_table(
        "programme_claim_receipt",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("claim_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_programme_claim_receipt_amount_positive")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["programme_claim.id"], name=op.f("fk_programme_claim_receipt_claim_id_programme_claim")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_claim_receipt")),
    )
    op.create_index(op.f("ix_programme_claim_receipt_claim_id"), "programme_claim_receipt", ["claim_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_programme_claim_receipt_claim_id"), table_name="programme_claim_receipt")
    op.drop_table("programme_claim_receipt")
    op.drop_table("programme_claim_member")
    op.drop_index(op.f("ix_programme_claim_supplier_id"), table_name="programme_claim")
    op.drop_table("programme_claim")
    op.drop_index("ix_purchase_line_contract_period_member", table_name="purchase_line")
    op.drop_table("purchase_line")
    op.drop_index(op.f("ix_contract_member_member_id"), table_name="contract_member")
    op.drop_table("contract_member")
    op.drop_table("contract_tier")
    op.drop_index(op.f("ix_supplier_contract_supplier_id"), table_name="supplier_contract")
    op.drop_table("supplier_contract")
    # Programme patronage cannot stay under the old rule; the records are immutable, so a
    # downgrade with programme records present fails here rather than losing them.
    op.drop_constraint(op.f(_SOURCE), "patronage_record", type_="check")
    op.create_check_constraint(op.f(_SOURCE), "patronage_record", "source IN ('group_buy','import','correction')")
