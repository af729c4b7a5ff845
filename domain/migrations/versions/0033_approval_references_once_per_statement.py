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

revision: str = "0033"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (child table, column, parent table, the foreign key's name), each checked by its trigger.
REFERENCES = (
    ("posting", "entry_id", "journal_entry", "fk_posting_entry_id_journal_entry"),
    ("posting", "account_id", "ledger_account", "fk_posting_account_id_ledger_account"),
    ("equity_lot", "member_id", "member", "fk_equity_lot_member_id_member"),
    ("equity_lot", "account_id", "ledger_account", "fk_equity_lot_account_id_ledger_account"),
    ("ledger_account", "member_id", "member", "fk_ledger_account_member_id_member"),
    ("payout", "member_id", "member", "fk_payout_member_id_member"),
)
KEPT_PARENTS = ("ledger_account", "member")  # journal_entry is append-only since 0001

# One function per foreign key, its query written out (static SQL): PL/pgSQL keeps its plan
# for the session. The same check through one generic function and EXECUTE, planned at each
# call, made a two-posting insert cost 1.8 ms, the foreign keys 0.7 ms, this 0.6 ms.
# The kept plan is pinned to what a foreign key does, one primary-key probe of the parent per
# new row, never a sort, hash or scan of the whole parent: a plan chosen by its first call's
# estimates would be kept for calls it does not fit (a parent table seen nearly empty, then
# 100,000 parents written by the statement checked; or a hash of millions of parents built
# for a two-posting insert).
REFERENCE_PRESENT = """
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET enable_material = off AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.{column} INTO missing FROM new_rows n
     WHERE n.{column} IS NOT NULL AND NOT EXISTS (SELECT FROM {parent} p WHERE p.id = n.{column}) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{name}"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key ({column})=(%s) is not present in table "{parent}".', missing),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = '{table}', COLUMN = '{column}', CONSTRAINT = '{name}';
    END IF;
    RETURN NULL;
END $$
"""
KEY_KEPT = """
CREATE FUNCTION coop_referenced_key_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: its rows are referenced by key (postings, lots, payouts)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$
"""


def _upgrade_statements() -> list[str]:
    statements = [KEY_KEPT]
    for table, column, parent, name in REFERENCES:
        statements.append(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        statements.append(REFERENCE_PRESENT.format(table=table, column=column, parent=parent, name=name))
        statements.append(
            f"CREATE TRIGGER {name} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
        if table != "posting":  # append-only: an UPDATE is refused (0001)
            statements.append(
                f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    for parent in KEPT_PARENTS:
        statements += [
            f"CREATE TRIGGER {parent}_not_deleted BEFORE DELETE ON {parent}"
            " FOR EACH ROW EXECUTE FUNCTION coop_referenced_key_kept()",
            f"CREATE TRIGGER {parent}_id_kept BEFORE UPDATE OF id ON {parent}"
            " FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION coop_referenced_key_kept()",
            f"CREATE TRIGGER {parent}_no_truncate BEFORE TRUNCATE ON {parent}"
            " FOR EACH STATEMENT EXECUTE FUNCTION coop_referenced_key_kept()",
        ]
    return statements


def _downgrade_statements() -> list[str]:
    statements = []
    for parent in KEPT_PARENTS:
        statements += [
            f"DROP TRIGGER {parent}_no_truncate ON {parent}",
            f"DROP TRIGGER {parent}_id_kept ON {parent}",
            f"DROP TRIGGER {parent}_not_deleted ON {parent}",
        ]
    for table, column, parent, name in REFERENCES:
        if table != "posting":
            statements.append(f"DROP TRIGGER {name}_upd ON {table}")
        statements += [
            f"DROP TRIGGER {name} ON {table}",
            f"DROP FUNCTION {name}()",
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {parent} (id)",
        ]
    return [*statements, "DROP FUNCTION coop_referenced_key_kept()"]


def upgrade() -> None:
    # One statement per execute: the migrations run on asyncpg, which prepares each one.
    for statement in _upgrade_statements():
        op.execute(statement)


def downgrade() -> None:
    for statement in _downgrade_statements():
        op.execute(statement)
