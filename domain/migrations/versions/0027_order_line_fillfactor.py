"""Order lines leave half of each page free, so the close's and the delivery's updates stay in the page.

Every line is updated at close (allocated units, price, total) and again at delivery
(delivered units, total), set-based over the whole buy. None of those columns is indexed, so
with room in the page PostgreSQL updates each row in place of an index entry per index (a
heap-only tuple): 2,000 orders x 50 products closed in 1.3 s instead of 3.6 s of UPDATE on the
dev box. Pages written before this keep their layout until rewritten.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE order_line SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE order_line RESET (fillfactor)")
