"""Card payments, the last parts: suppliers' connected accounts and Connect transfers, share payments by
card, the mark of replayed Stripe events.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAND_METHODS = "'cash','check','bank_transfer'"


def upgrade() -> None:
    op.create_table(
        "supplier_stripe_account",
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_supplier_stripe_account_supplier_id_supplier")
        ),
        sa.PrimaryKeyConstraint("supplier_id", name=op.f("pk_supplier_stripe_account")),
    )
    op.add_column(
        "supplier_payment", sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
    )
    op.create_unique_constraint(op.f("uq_supplier_payment_reference"), "supplier_payment", ["reference"])
    op.drop_constraint(op.f("ck_supplier_payment_method"), "supplier_payment", type_="check")
    op.create_check_constraint(
        op.f("ck_supplier_payment_method"), "supplier_payment", f"method IN ({HAND_METHODS},'stripe_transfer')"
    )
    op.create_table(
        "share_card_payment",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("intent_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("client_secret", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("failure", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("credited_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_share_card_payment_amount_positive")),
        sa.CheckConstraint(
            "status IN ('pending','succeeded','failed','unapplied')", name=op.f("ck_share_card_payment_status")
        ),
        sa.ForeignKeyConstraint(
            ["credited_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_share_card_payment_credited_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_share_card_payment_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_card_payment")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_share_card_payment_intent_id")),
    )
    op.create_index(op.f("ix_share_card_payment_member_id"), "share_card_payment", ["member_id"], unique=False)
    op.create_table(
        "stripe_replay_mark",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("replayed_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stripe_replay_mark")),
    )


def downgrade() -> None:
    op.drop_table("stripe_replay_mark")
    op.drop_index(op.f("ix_share_card_payment_member_id"), table_name="share_card_payment")
    op.drop_table("share_card_payment")
    op.drop_constraint(op.f("ck_supplier_payment_method"), "supplier_payment", type_="check")
    op.create_check_constraint(op.f("ck_supplier_payment_method"), "supplier_payment", f"method IN ({HAND_METHODS})")
    op.drop_constraint(op.f("uq_supplier_payment_reference"), "supplier_payment", type_="unique")
    op.drop_column("supplier_payment", "reference")
    op.drop_table("supplier_stripe_account")
