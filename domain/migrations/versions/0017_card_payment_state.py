"""Card payments, the rest: a hold's client secret, when it lapses, its kind and action deadline; corrections.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'pending_auth','authorized','auth_failed','captured','voided','partially_refunded','refunded'"


def upgrade() -> None:
    op.add_column("card_hold", sa.Column("client_secret", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column("card_hold", sa.Column("capture_before", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "card_hold",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), server_default="hold", nullable=False),
    )
    op.add_column("card_hold", sa.Column("action_deadline", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_card_hold_kind"), "card_hold", "kind IN ('hold','reauth','charge')")
    op.drop_constraint(op.f("ck_card_hold_status"), "card_hold", type_="check")
    op.create_check_constraint(op.f("ck_card_hold_status"), "card_hold", f"status IN ({STATUSES},'action_required')")
    op.create_table(
        "buy_correction",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("group_buy_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_buy_id"], ["group_buy.id"], name=op.f("fk_buy_correction_group_buy_id_group_buy")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buy_correction")),
    )
    op.create_index(op.f("ix_buy_correction_group_buy_id"), "buy_correction", ["group_buy_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_buy_correction_group_buy_id"), table_name="buy_correction")
    op.drop_table("buy_correction")
    op.drop_constraint(op.f("ck_card_hold_status"), "card_hold", type_="check")
    op.create_check_constraint(op.f("ck_card_hold_status"), "card_hold", f"status IN ({STATUSES})")
    op.drop_constraint(op.f("ck_card_hold_kind"), "card_hold", type_="check")
    op.drop_column("card_hold", "action_deadline")
    op.drop_column("card_hold", "kind")
    op.drop_column("card_hold", "capture_before")
    op.drop_column("card_hold", "client_secret")
