"""Equity lots become a subsidiary ledger of one retained-equity account, not an account each.

Year-end approval gave every member's new lot its own ledger account and a posting crediting it:
at 100k members, 100,000 accounts and postings, about half of approval's time
(docs/performance.md, part 39). Accountants keep members' capital the other way: one control
account in the general ledger (`coop:retained_equity`), the lots as its subsidiary ledger.

- A lot keeps its face (`face_cents`) and the entry that posted it (`entry_id`), fixed once
  written. That entry credits the control account once with the faces of all the lots it made.
- Every later movement of a lot (a redemption, an import's part redeemed before the move) is a
  posting that names the lot (`posting.equity_lot_id`). A lot's outstanding is its face plus its
  postings (credits less debits).
- A posting that names a lot must be on the control account, or on the lot's own account for a
  lot written before this migration. Checked once per statement, as the references are (0033).

Lots written before keep their accounts and balances (the ledger is append-only): their face
is the first credit on their account, and their other postings are marked with the lot here,
the one time a migration writes to `posting` (a new column filled in, no amount or account
changed). Their later redemptions still debit their own account, so it keeps face less redeemed.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.migrations.references import checked_per_statement_added, checks_dropped, probed_once_per_key

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETAINED_EQUITY_CODE = "coop:retained_equity"

_LOT_FACES = """
WITH face AS (
  SELECT DISTINCT ON (l.id) l.id AS lot_id, p.id AS posting_id, p.entry_id, p.amount_cents
    FROM equity_lot l JOIN posting p ON p.account_id = l.account_id AND p.side = 'credit'
   ORDER BY l.id, p.id
)
UPDATE equity_lot l SET face_cents = face.amount_cents, entry_id = face.entry_id FROM face WHERE l.id = face.lot_id
"""
# Every posting on an old lot's account but the one that made its face.
_LOT_MOVEMENTS = """
UPDATE posting p SET equity_lot_id = l.id
  FROM equity_lot l
 WHERE p.account_id = l.account_id
   AND NOT (p.side = 'credit' AND p.entry_id = l.entry_id)
"""

# The lot a posting names exists, and the posting is on the retained equity account or the lot's
# own: one probe of the lot's primary key per new posting that names one (a redemption run's
# 200,000 debits), plan pinned as in domain/migrations/references.py.
_POSTING_LOT = f"""
CREATE FUNCTION fk_posting_equity_lot_id_equity_lot() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET enable_material = off AS $$
DECLARE
    retained bigint := (SELECT a.id FROM ledger_account a WHERE a.code = '{RETAINED_EQUITY_CODE}');
    wrong record;
BEGIN
    SELECT n.equity_lot_id AS lot, n.account_id AS account, l.id IS NULL AS missing INTO wrong
      FROM new_rows n LEFT JOIN equity_lot l ON l.id = n.equity_lot_id
     WHERE n.equity_lot_id IS NOT NULL
       AND (l.id IS NULL OR (n.account_id IS DISTINCT FROM l.account_id AND n.account_id IS DISTINCT FROM retained))
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF wrong.missing THEN
        RAISE EXCEPTION 'insert on table "posting" violates foreign key constraint "fk_posting_equity_lot_id_equity_lot"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (equity_lot_id)=(%s) is not present in table "equity_lot".', wrong.lot),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = 'posting', COLUMN = 'equity_lot_id',
                  CONSTRAINT = 'fk_posting_equity_lot_id_equity_lot';
    END IF;
    RAISE EXCEPTION 'a posting that names equity lot % must be on the retained equity account', wrong.lot
        USING ERRCODE = 'check_violation',
              DETAIL = format('account %s is neither {RETAINED_EQUITY_CODE} nor the lot''s own account', wrong.account),
              SCHEMA = TG_TABLE_SCHEMA, TABLE = 'posting', CONSTRAINT = 'posting_equity_lot_account';
END $$
"""
_FACE_FIXED = """
CREATE FUNCTION equity_lot_face_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the face of equity lot % and the entry that posted it cannot change', OLD.id
        USING ERRCODE = 'restrict_violation';
END $$
"""


def upgrade() -> None:
    op.add_column("equity_lot", sa.Column("face_cents", sa.BigInteger(), nullable=True))
    op.add_column("equity_lot", sa.Column("entry_id", sa.BigInteger(), nullable=True))
    op.add_column("posting", sa.Column("equity_lot_id", sa.BigInteger(), nullable=True))
    op.execute(_LOT_FACES)
    op.execute("ALTER TABLE posting DISABLE TRIGGER posting_append_only")
    op.execute(_LOT_MOVEMENTS)
    op.execute("ALTER TABLE posting ENABLE TRIGGER posting_append_only")
    op.alter_column("equity_lot", "face_cents", nullable=False)
    op.alter_column("equity_lot", "entry_id", nullable=False)
    op.create_check_constraint(op.f("ck_equity_lot_face_positive"), "equity_lot", "face_cents > 0")
    op.execute(_FACE_FIXED)
    op.execute(
        "CREATE TRIGGER equity_lot_face_fixed BEFORE UPDATE OF face_cents, entry_id ON equity_lot FOR EACH ROW"
        " WHEN (OLD.face_cents IS DISTINCT FROM NEW.face_cents OR OLD.entry_id IS DISTINCT FROM NEW.entry_id)"
        " EXECUTE FUNCTION equity_lot_face_fixed()"
    )
    for statement in checked_per_statement_added("equity_lot", "entry_id", "journal_entry", updates=False):
        op.execute(statement)
    # Every lot a statement writes names the one entry that posted their faces: probe it once.
    op.execute(probed_once_per_key("equity_lot", "entry_id", "journal_entry"))
    op.execute(_POSTING_LOT)
    op.execute(
        "CREATE TRIGGER fk_posting_equity_lot_id_equity_lot AFTER INSERT ON posting REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION fk_posting_equity_lot_id_equity_lot()"
    )
    # A lot's outstanding is an index-only scan of its own postings.
    op.create_index(
        "ix_posting_equity_lot_id",
        "posting",
        ["equity_lot_id"],
        postgresql_include=["side", "amount_cents"],
        postgresql_where=sa.text("equity_lot_id IS NOT NULL"),
    )
    # The new columns' statistics now, not at autovacuum's next pass: until then a run's plans
    # guess (a redemption run 3-6 s slower right after the upgrade, docs/performance.md part 40).
    op.execute("ANALYZE equity_lot")
    op.execute("ANALYZE posting (equity_lot_id)")


def downgrade() -> None:
    # Lots written since hold their face in the control account, which 0040 cannot read.
    op.execute("""
    DO $$ BEGIN
      IF EXISTS (SELECT FROM equity_lot WHERE account_id IS NULL) THEN
        RAISE EXCEPTION 'equity lots without their own account exist; 0040 cannot read them';
      END IF;
    END $$
    """)
    op.drop_index("ix_posting_equity_lot_id", table_name="posting")
    op.execute("DROP TRIGGER fk_posting_equity_lot_id_equity_lot ON posting")
    op.execute("DROP FUNCTION fk_posting_equity_lot_id_equity_lot()")
    for statement in checks_dropped("equity_lot", "entry_id", "journal_entry", updates=False):
        op.execute(statement)
    op.execute("DROP TRIGGER equity_lot_face_fixed ON equity_lot")
    op.execute("DROP FUNCTION equity_lot_face_fixed()")
    op.drop_constraint(op.f("ck_equity_lot_face_positive"), "equity_lot", type_="check")
    op.drop_column("posting", "equity_lot_id")
    op.drop_column("equity_lot", "entry_id")
    op.drop_column("equity_lot", "face_cents")
