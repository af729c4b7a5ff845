"""Each fiscal year's patronage totals kept current as records are written; backfilled from the records.

`patronage_total` has one row per (fiscal_year, member_id, pool, member_business) with the sum
and count of the group's records; the year end reads it instead of aggregating the year's
records (10M at 100k members) on every run. patronage_record is append-only (UPDATE, DELETE
and TRUNCATE are refused by 0003's triggers), so INSERT (and COPY, which fires the same
triggers) is the only change to follow.

Two steps, so that writers never deadlock on the totals:
1. An AFTER INSERT statement trigger aggregates the statement's new rows (its transition table:
   only the rows written, not those ON CONFLICT DO NOTHING skipped) into
   `patronage_total_pending`, under the transaction's id: rows no other transaction touches,
   so nothing waits. It also marks the transaction in `patronage_total_flush` (once).
2. The mark's deferred constraint trigger runs at COMMIT, once per transaction: it moves the
   transaction's pending sums into `patronage_total` in one upsert, in key order (NULL member
   last). Every writer locks totals only there, at the very end, all in that one order, so two
   transactions writing for the same members wait for each other instead of deadlocking,
   whatever order and however many statements they wrote their records in (a settlement
   writes purchases then a seller's sale; an import writes 1,000 rows a statement); the
   second adds to what the first committed (READ COMMITTED re-reads the row it waited for),
   so no update is lost; and a total is locked only for the commit, not for the rest of the
   writer's transaction. Upserting at each statement instead deadlocked two such writers.
A transaction that reads its own new records' totals before it commits (a test that records
and computes in one transaction) runs `SET CONSTRAINTS patronage_total_flush IMMEDIATE`
first (domain.patronage.service.count_own_records).

The two working tables are UNLOGGED: their rows live only inside a transaction (the flush
deletes them before it commits; a rollback takes them away), so they need no WAL, and the
empty table a crash leaves is exactly right.

A total is written only by the flush: a statement trigger on patronage_total (and on the
pending sums) refuses any statement not run from inside a trigger (pg_trigger_depth() = 1 is
a statement of its own), so a by-hand UPDATE, INSERT, DELETE or TRUNCATE cannot make the
totals disagree with the records.

The backfill locks patronage_record against writers (SHARE: reads go on) and sums the
records once, after the trigger exists, so a record is counted by exactly one of the two.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUP = ("fiscal_year", "member_id", "pool", "member_business")

# The transaction's id as a bigint (xid8 has no cast to bigint but through text).
ADD_NEW_RECORDS = """
CREATE FUNCTION patronage_total_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO patronage_total_pending AS pending
           (txid, fiscal_year, member_id, pool, member_business, amount_cents, record_count)
    SELECT tx, fiscal_year, member_id, pool, member_business, sum(amount_cents), count(*)
      FROM new_records
     GROUP BY fiscal_year, member_id, pool, member_business
    ON CONFLICT (txid, fiscal_year, member_id, pool, member_business) DO UPDATE
       SET amount_cents = pending.amount_cents + excluded.amount_cents,
           record_count = pending.record_count + excluded.record_count;
    INSERT INTO patronage_total_flush (txid) VALUES (tx) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""

FLUSH = """
CREATE FUNCTION patronage_total_flush() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS (
        DELETE FROM patronage_total_pending WHERE txid = NEW.txid
        RETURNING fiscal_year, member_id, pool, member_business, amount_cents, record_count
    )
    INSERT INTO patronage_total AS total (fiscal_year, member_id, pool, member_business, amount_cents, record_count)
    SELECT fiscal_year, member_id, pool, member_business, amount_cents, record_count
      FROM moved
     ORDER BY fiscal_year, member_id NULLS LAST, pool, member_business
    ON CONFLICT (fiscal_year, member_id, pool, member_business) DO UPDATE
       SET amount_cents = total.amount_cents + excluded.amount_cents,
           record_count = total.record_count + excluded.record_count;
    DELETE FROM patronage_total_flush WHERE txid = NEW.txid;
    RETURN NULL;
END $$
"""

ONLY_BY_TRIGGER = """
CREATE FUNCTION patronage_total_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION '% on % is not allowed: patronage_total is kept by the trigger on patronage_record; '
                        'write a record (a correction is a new record) instead', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END $$
"""


def _sums() -> list[sa.Column[int]]:
    return [
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
    ]


def _group() -> list[sa.Column[object]]:
    return [
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("pool", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("member_business", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "patronage_total",
        sa.Column("id", sa.BigInteger(), nullable=False),
        *_group(),
        *_sums(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patronage_total")),
        sa.UniqueConstraint(*GROUP, name="uq_patronage_total_group", postgresql_nulls_not_distinct=True),
    )
    op.create_table(
        "patronage_total_pending",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        *_group(),
        *_sums(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patronage_total_pending")),
        sa.UniqueConstraint(
            "txid", *GROUP, name="uq_patronage_total_pending_group", postgresql_nulls_not_distinct=True
        ),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "patronage_total_flush",
        sa.Column("txid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("txid", name=op.f("pk_patronage_total_flush")),
        prefixes=["UNLOGGED"],
    )
    op.execute("LOCK TABLE patronage_record IN SHARE MODE")
    op.execute(ADD_NEW_RECORDS)
    op.execute(FLUSH)
    op.execute(
        "CREATE TRIGGER patronage_record_totals AFTER INSERT ON patronage_record"
        " REFERENCING NEW TABLE AS new_records FOR EACH STATEMENT EXECUTE FUNCTION patronage_total_add()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER patronage_total_flush AFTER INSERT ON patronage_total_flush"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION patronage_total_flush()"
    )
    op.execute(
        """
        INSERT INTO patronage_total (fiscal_year, member_id, pool, member_business, amount_cents, record_count)
        SELECT fiscal_year, member_id, pool, member_business, sum(amount_cents), count(*)
          FROM patronage_record GROUP BY fiscal_year, member_id, pool, member_business
        """
    )
    op.execute(ONLY_BY_TRIGGER)
    for table in ("patronage_total", "patronage_total_pending"):
        op.execute(
            f"CREATE TRIGGER {table}_only_by_trigger BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION patronage_total_guard()"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER patronage_record_totals ON patronage_record")
    op.drop_table("patronage_total_flush")
    op.drop_table("patronage_total_pending")
    op.drop_table("patronage_total")
    for function in ("patronage_total_add", "patronage_total_flush", "patronage_total_guard"):
        op.execute(f"DROP FUNCTION {function}()")
