"""Accounts: throttling per client address and per account, disabled users, known devices.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_login_failure_email_at", table_name="login_failure")
    op.drop_table("login_failure")
    op.create_table(
        "login_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.add_column("app_user", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "app_user", sa.Column("last_sign_in_address", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("app_user", "last_sign_in_address")
    op.drop_column("app_user", "disabled_at")
    op.drop_table("login_throttle")
    op.create_table(
        "login_failure",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failure_email_at", "login_failure", ["email", "occurred_at"], unique=False)
