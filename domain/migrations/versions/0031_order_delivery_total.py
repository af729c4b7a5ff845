"""Each allocated order's delivered total per pool, written by the delivery, read by the settlement.

The delivery prices every line of the buy in one statement; the same statement now also
stores each order's delivered cents and units short per pool (one row an order and pool,
10,000 at 10,000 orders in one pool). The settlement reads these rows instead of summing
every line again (437,500 at 10,000 x 50). The rows are the delivery as reported: a later
correction is its own record and leaves them as they were.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_delivery_total",
        sa.Column("group_buy_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("pool", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("delivered_cents", sa.BigInteger(), nullable=False),
        sa.Column("short_units", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "delivered_cents >= 0 AND short_units >= 0", name=op.f("ck_order_delivery_total_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["group_buy_id"], ["group_buy.id"], name=op.f("fk_order_delivery_total_group_buy_id_group_buy")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["buy_order.id"], name=op.f("fk_order_delivery_total_order_id_buy_order")
        ),
        sa.PrimaryKeyConstraint("group_buy_id", "order_id", "pool", name=op.f("pk_order_delivery_total")),
    )
    # A buy delivered before this revision and not settled yet: its totals from its lines, as
    # the settlement summed them until now.
    op.execute("""
INSERT INTO order_delivery_total (group_buy_id, order_id, pool, delivered_cents, short_units)
SELECT l.group_buy_id, l.order_id, i.pool, coalesce(sum(l.total_cents), 0),
       coalesce(sum(coalesce(l.allocated_quantity, 0) - coalesce(l.delivered_quantity, 0)), 0)
  FROM order_line l
  JOIN buy_order o ON o.id = l.order_id
  JOIN group_buy g ON g.id = l.group_buy_id
  JOIN group_buy_item i ON i.group_buy_id = l.group_buy_id AND i.product_id = l.product_id
 WHERE g.status = 'delivered' AND o.status = 'allocated'
 GROUP BY l.group_buy_id, l.order_id, i.pool
""")


def downgrade() -> None:
    op.drop_table("order_delivery_total")
