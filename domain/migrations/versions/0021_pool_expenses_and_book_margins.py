"""Pool expenses staff enter, and the margins an allocation run read from the books.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pool_expense",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("pool", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("incurred_on", sa.Date(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_from", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_pool_expense_amount_not_zero")),
        sa.CheckConstraint("paid_from IN ('bank','cash','accrued')", name=op.f("ck_pool_expense_paid_from")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_expense")),
    )
    op.create_index("ix_pool_expense_fiscal_year_pool", "pool_expense", ["fiscal_year", "pool"], unique=False)
    op.add_column(
        "allocation_run",
        sa.Column("margin_derivation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("allocation_run", "margin_derivation")
    op.drop_index("ix_pool_expense_fiscal_year_pool", table_name="pool_expense")
    op.drop_table("pool_expense")
