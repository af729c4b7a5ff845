"""Group buys: the items of buys already open keep the price version in force now.

From this revision a buy pins its prices when it opens (a supplier's rise applies to later
buys only); buys that opened before it are pinned here, so they are protected too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE group_buy_item AS i
           SET price_version_id = v.id, markup_rate = v.markup_rate
          FROM group_buy AS g, product AS p, product_price_version AS v
         WHERE g.id = i.group_buy_id AND g.status = 'open'
           AND p.id = i.product_id
           AND v.product_id = p.id AND v.version = p.price_version
           AND i.price_version_id IS NULL
        """
    )


def downgrade() -> None:
    # Earlier code freezes prices at close and overwrites these pins then; nothing to undo.
    pass
