"""Card payments, the rest: a hold's client secret (3-D Secure) and when its authorization lapses.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("card_hold", sa.Column("client_secret", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column("card_hold", sa.Column("capture_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("card_hold", "capture_before")
    op.drop_column("card_hold", "client_secret")
