"""Notify the API processes when a token may be revoked, so their token caches drop it at once.

A statement that deletes or updates tokens, updates or deletes users, or changes a member's
status sends a notification on `coop_auth_changed`; PostgreSQL delivers it to every listening
connection when the transaction commits (and never for one that rolls back). Each API process
listens (api/revocations.py). Per statement, not per row: one notification whatever the rows.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {
    "auth_token_changed_notify": "AFTER UPDATE OR DELETE ON auth_token",
    "app_user_changed_notify": "AFTER UPDATE OR DELETE ON app_user",
    "member_status_changed_notify": "AFTER UPDATE OF status OR DELETE ON member",
}


def upgrade() -> None:
    op.execute(
        """
CREATE FUNCTION coop_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('coop_auth_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$
"""
    )
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION coop_auth_changed()")


def downgrade() -> None:
    for name, when in TRIGGERS.items():
        table = when.rsplit(" ", 1)[1]
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION coop_auth_changed()")
