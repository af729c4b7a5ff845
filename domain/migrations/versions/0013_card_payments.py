"""Card payments: a member's Stripe customer, card holds per order version, webhook events stored once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_customer",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("setups", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("setups >= 0", name=op.f("ck_stripe_customer_setups_not_negative")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_stripe_customer_member_id_member")),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_stripe_customer")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_stripe_customer_customer_id")),
    )
    op.create_table(
        "card_hold",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("group_buy_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("intent_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("captured_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("failure", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending_auth','authorized','auth_failed','captured','voided','partially_refunded','refunded')",
            name=op.f("ck_card_hold_status"),
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_card_hold_amount_not_negative")),
        sa.CheckConstraint("captured_cents BETWEEN 0 AND amount_cents", name=op.f("ck_card_hold_captured_within_hold")),
        sa.CheckConstraint(
            "refunded_cents BETWEEN 0 AND captured_cents", name=op.f("ck_card_hold_refunded_within_capture")
        ),
        sa.ForeignKeyConstraint(["group_buy_id"], ["group_buy.id"], name=op.f("fk_card_hold_group_buy_id_group_buy")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_card_hold_member_id_member")),
        sa.ForeignKeyConstraint(["order_id"], ["buy_order.id"], name=op.f("fk_card_hold_order_id_buy_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_hold")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_card_hold_intent_id")),
        sa.UniqueConstraint("order_id", "version", name="uq_card_hold_order_version"),
    )
    op.create_index(op.f("ix_card_hold_group_buy_id"), "card_hold", ["group_buy_id"], unique=False)
    op.create_table(
        "stripe_event",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event")),
    )


def downgrade() -> None:
    op.drop_table("stripe_event")
    op.drop_index(op.f("ix_card_hold_group_buy_id"), table_name="card_hold")
    op.drop_table("card_hold")
    op.drop_table("stripe_customer")
