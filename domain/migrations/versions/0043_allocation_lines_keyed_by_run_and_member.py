"""An allocation line is keyed by its run and its member; the surrogate `id` is gone.

A line is one member's allocation in one run, already unique by (run_id, member_id), and
nothing reads or references its `id`: the lines are listed by member number, found by run and
member, and summed by run. The surrogate key cost the computation a second index entry and WAL
record per line: inserting a 1M-member run's lines took 3.4-4.3 s without its primary key
against 5.1 s with it (docs/performance.md, part 42). The unique (run_id, member_id) becomes
the primary key, under the primary key's name.

The downgrade numbers the lines again in (run, member) order.

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("pk_allocation_line", "allocation_line", type_="primary")
    op.drop_column("allocation_line", "id")
    op.drop_constraint("uq_allocation_line_run_member", "allocation_line", type_="unique")
    op.create_primary_key("pk_allocation_line", "allocation_line", ["run_id", "member_id"])


def downgrade() -> None:
    op.drop_constraint("pk_allocation_line", "allocation_line", type_="primary")
    op.create_unique_constraint("uq_allocation_line_run_member", "allocation_line", ["run_id", "member_id"])
    op.add_column("allocation_line", sa.Column("id", sa.BigInteger(), nullable=True))
    op.execute("CREATE SEQUENCE allocation_line_id_seq OWNED BY allocation_line.id")
    op.execute("""
    UPDATE allocation_line l SET id = n.id
      FROM (SELECT run_id, member_id, nextval('allocation_line_id_seq') AS id
              FROM (SELECT run_id, member_id FROM allocation_line ORDER BY run_id, member_id) o) n
     WHERE n.run_id = l.run_id AND n.member_id = l.member_id
    """)
    op.execute("ALTER TABLE allocation_line ALTER COLUMN id SET DEFAULT nextval('allocation_line_id_seq')")
    op.alter_column("allocation_line", "id", nullable=False)
    op.create_primary_key("pk_allocation_line", "allocation_line", ["id"])
