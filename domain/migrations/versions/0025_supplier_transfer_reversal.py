"""Connect transfers taken back after a correction lowers what the supplier is owed.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplier_transfer_reversal",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("group_buy_id", sa.BigInteger(), nullable=False),
        sa.Column("correction_id", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("reversal_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_supplier_transfer_reversal_amount_positive")),
        sa.ForeignKeyConstraint(
            ["group_buy_id"], ["group_buy.id"], name=op.f("fk_supplier_transfer_reversal_group_buy_id_group_buy")
        ),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["buy_correction.id"],
            name=op.f("fk_supplier_transfer_reversal_correction_id_buy_correction"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_supplier_transfer_reversal_entry_id_journal_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_transfer_reversal")),
        sa.UniqueConstraint(
            "group_buy_id", "correction_id", name="uq_supplier_transfer_reversal_group_buy_correction"
        ),
        sa.UniqueConstraint("reversal_id", name=op.f("uq_supplier_transfer_reversal_reversal_id")),
    )
    op.create_index(
        op.f("ix_supplier_transfer_reversal_group_buy_id"), "supplier_transfer_reversal", ["group_buy_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_supplier_transfer_reversal_group_buy_id"), table_name="supplier_transfer_reversal")
    op.drop_table("supplier_transfer_reversal")
