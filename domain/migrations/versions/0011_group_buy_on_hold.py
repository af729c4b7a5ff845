"""Group buys held for a staff decision get their own status, `on_hold`, instead of `closing`; products retire.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status IN ('scheduled','open','closing','ordered','delivered','settled','cancelled')"
NEW = "status IN ('scheduled','open','on_hold','ordered','delivered','settled','cancelled')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_group_buy_status"), "group_buy", type_="check")
    # `closing` was only ever seen on a buy held for staff
    op.execute("UPDATE group_buy SET status = 'on_hold' WHERE status = 'closing'")
    op.create_check_constraint(op.f("ck_group_buy_status"), "group_buy", NEW)
    op.add_column("product", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("product", "retired_at")
    op.drop_constraint(op.f("ck_group_buy_status"), "group_buy", type_="check")
    op.execute("UPDATE group_buy SET status = 'closing' WHERE status = 'on_hold'")
    op.create_check_constraint(op.f("ck_group_buy_status"), "group_buy", OLD)
