"""The ledger's balance check runs once per entry at commit; a committed entry is closed to new postings.

Before, the deferred balance trigger ran once per posting and once per entry (about five
checks an entry, each summing the entry's postings): 160,000 checks at the commit of a
40k-member year end. Now the deferred row trigger on `journal_entry` alone checks each entry
once at commit, with all its postings. What the per-posting check also guarded, a posting
added by a later transaction to an entry already checked and committed, is refused at insert
by a plain statement trigger on `posting`: the posting's entry must have been inserted by the
current transaction. A correction is its own entry (a reversal), as the ledger already posts.
One limit: `SET CONSTRAINTS ALL IMMEDIATE` runs the entry checks queued so far; a posting added
after it, in the same transaction, to an entry already checked is not checked again (the code
never sets constraints immediate; the tests do, to fire the checks before their rollback).

"Inserted by the current transaction" is read from the entry row's `xmin`. In a savepoint
the row's `xmin` is the subtransaction's id, not the top-level one (and above it), so a
mismatch with `pg_current_xact_id()` falls back to `pg_xact_status`, which answers
'in progress' for the current transaction and its subtransactions, released or not. Another
running transaction's rows are not visible here, so a visible row in progress is this
transaction's. The raw `xmin` has 32 bits: it is widened to the 64-bit id nearest the current
one, which is exact for every entry younger than two billion transactions; for an older one
the widened id is some other transaction's (refused unless it is running, a one in four
billion coincidence) or in the future (PostgreSQL raises an error: refused as well).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# One statement per execute: the migrations run on asyncpg, which prepares each one.
UPGRADE = (
    "DROP TRIGGER posting_balanced ON posting",
    """
CREATE FUNCTION ledger_posting_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_xact xid8 := pg_current_xact_id();
    this_xact_n bigint := pg_current_xact_id()::text::bigint;
    closed_id bigint;
BEGIN
    SELECT e.id INTO closed_id
      FROM journal_entry e
     WHERE e.id IN (SELECT entry_id FROM new_postings)
       AND e.xmin <> xid(this_xact)
       AND pg_xact_status((this_xact_n
               + (e.xmin::text::bigint - (this_xact_n & 4294967295) + 6442450944) % 4294967296 - 2147483648
           )::text::xid8) IS DISTINCT FROM 'in progress'
     LIMIT 1;
    IF closed_id IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % is closed: it was committed by an earlier transaction; post a new entry',
            closed_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER posting_entry_open AFTER INSERT ON posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_entry_open()
""",
)

DOWNGRADE = (
    "DROP TRIGGER posting_entry_open ON posting",
    "DROP FUNCTION ledger_posting_entry_open()",
    """
CREATE CONSTRAINT TRIGGER posting_balanced AFTER INSERT ON posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()
""",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
