"""Patronage: a covering index, so the year-end aggregation is an index-only scan in group order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_patronage_record_fiscal_year_member_pool"
COLUMNS = ["fiscal_year", "member_id", "pool"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name="patronage_record")
    op.create_index(INDEX, "patronage_record", COLUMNS, postgresql_include=["amount_cents", "member_business"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="patronage_record")
    op.create_index(INDEX, "patronage_record", COLUMNS)
