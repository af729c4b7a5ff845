"""The references of the rows year-end approval writes are checked once per statement, not once per row.

Approval writes, per member, a ledger account, an equity lot, a posting and a payout: 400,000
rows at 100k members, and each foreign key ran one lookup per row (six per member: the
member of the account, of the lot and of the payout; the lot's account; the posting's entry
and account). Under EXPLAIN those lookups were more than half of the statement. Here each of
the six foreign keys becomes a statement trigger of the same name, run once per INSERT or
UPDATE over its transition table, that refuses the statement if a new row's key has no
parent row (one anti-join; same SQLSTATE 23503, same constraint name, checked at the same
moment: the end of the statement).

A foreign key also keeps its parent from going away. Here the parents keep their keys by
triggers: a journal entry is append-only (0001); a ledger account and a member can be neither
deleted, nor truncated, nor given another id (nothing in the code does either; a member who
leaves keeps its row, with its history). So a child row, once checked, keeps its parent.

Revision ID: 0033
Revises: 0031
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

from domain.migrations.references import (
    KEY_KEPT_FUNCTION,
    checked_per_row,
    checked_per_statement,
    key_kept,
    key_not_kept,
)

revision: str = "0033"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (child table, column, parent table), each key checked by its trigger (domain/migrations/references.py).
REFERENCES = (
    ("posting", "entry_id", "journal_entry"),
    ("posting", "account_id", "ledger_account"),
    ("equity_lot", "member_id", "member"),
    ("equity_lot", "account_id", "ledger_account"),
    ("ledger_account", "member_id", "member"),
    ("payout", "member_id", "member"),
)
KEPT_PARENTS = ("ledger_account", "member")  # journal_entry is append-only since 0001


def _upgrade_statements() -> list[str]:
    statements = [KEY_KEPT_FUNCTION]
    for table, column, parent in REFERENCES:
        # posting is append-only: an UPDATE is refused (0001)
        statements += checked_per_statement(table, column, parent, updates=table != "posting")
    for parent in KEPT_PARENTS:
        statements += key_kept(parent)
    return statements


def _downgrade_statements() -> list[str]:
    statements = []
    for parent in KEPT_PARENTS:
        statements += key_not_kept(parent)
    for table, column, parent in REFERENCES:
        statements += checked_per_row(table, column, parent, updates=table != "posting")
    return [*statements, "DROP FUNCTION coop_referenced_key_kept()"]


def upgrade() -> None:
    # One statement per execute: the migrations run on asyncpg, which prepares each one.
    for statement in _upgrade_statements():
        op.execute(statement)


def downgrade() -> None:
    for statement in _downgrade_statements():
        op.execute(statement)
