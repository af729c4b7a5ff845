"""Running totals of order lines per (group buy, product), sharded by connection, backfilled for live buys.

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 64  # domain.buying.tables.TOTAL_SHARDS at this revision


def upgrade() -> None:
    op.create_table(
        "group_buy_total",
        sa.Column("group_buy_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("flex_quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(f"shard >= 0 AND shard < {SHARDS}", name=op.f("ck_group_buy_total_shard_in_range")),
        sa.ForeignKeyConstraint(
            ["group_buy_id", "product_id"],
            ["group_buy_item.group_buy_id", "group_buy_item.product_id"],
            name="fk_group_buy_total_item",
        ),
        sa.PrimaryKeyConstraint("group_buy_id", "product_id", "shard", name=op.f("pk_group_buy_total")),
    )
    # Every buy whose items still show live progress (not frozen by a close) gets its sums;
    # any shard will do (only the sum over shards counts): spread by order id.
    op.execute(
        f"""
        INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
        SELECT l.group_buy_id, l.product_id, l.order_id % {SHARDS}, SUM(l.quantity), SUM(l.flex_quantity)
        FROM order_line l
        JOIN group_buy_item i ON i.group_buy_id = l.group_buy_id AND i.product_id = l.product_id
        WHERE i.bought_quantity IS NULL
        GROUP BY l.group_buy_id, l.product_id, l.order_id % {SHARDS}
        """  # noqa: S608 - a constant
    )


def downgrade() -> None:
    op.drop_table("group_buy_total")
