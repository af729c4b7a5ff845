"""Members as suppliers: a supplier linked to a member business, and the seller's sales as patronage.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCE = "ck_patronage_record_source"


def upgrade() -> None:
    op.add_column("supplier", sa.Column("member_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_supplier_member_id_member"), "supplier", "member", ["member_id"], ["id"])
    op.create_unique_constraint(op.f("uq_supplier_member_id"), "supplier", ["member_id"])
    # A member-supplier's sales through the co-op are patronage of their own source (marketing pool).
    op.drop_constraint(op.f(_SOURCE), "patronage_record", type_="check")
    op.create_check_constraint(
        op.f(_SOURCE), "patronage_record", "source IN ('group_buy','import','correction','programme','sale')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f(_SOURCE), "patronage_record", type_="check")
    op.create_check_constraint(
        op.f(_SOURCE), "patronage_record", "source IN ('group_buy','import','correction','programme')"
    )
    op.drop_constraint(op.f("uq_supplier_member_id"), "supplier", type_="unique")
    op.drop_constraint(op.f("fk_supplier_member_id_member"), "supplier", type_="foreignkey")
    op.drop_column("supplier", "member_id")
