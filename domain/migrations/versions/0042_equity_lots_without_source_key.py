"""An equity lot names its run through the entry that posted its face, not a key of its own.

Before 0041 a retained lot carried `source_key` (`allocation:<run>:<member>`) under a unique
constraint, the one link from a lot back to the run that made it. Since 0041 every lot names
the entry that posted its face (`entry_id`), and that entry's idempotency key names the run
(`allocation:<run>:members`; `allocation:<run>:<member>` for runs posted one entry a member,
before the one-entry approval). The key has no reader, and its uniqueness guards nothing that
is not guaranteed otherwise: approval writes one lot per allocation line, the lines are unique
per run and member (`uq_allocation_line_run_member`), and a run is posted once (its status,
under the run's lock). Its unique index was a fifth of approval's time at 100k members
(docs/performance.md, part 41: 1.27-1.42 s against 1.52-2.29 s, alternating).

The downgrade gives every retained lot its key back from its entry's.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("uq_equity_lot_source_key", "equity_lot", type_="unique")
    op.drop_column("equity_lot", "source_key")


def downgrade() -> None:
    op.add_column("equity_lot", sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    # allocation:<run>:members (one entry a run) or allocation:<run>:<member> (one a member).
    op.execute("""
    UPDATE equity_lot l
       SET source_key = 'allocation:' || split_part(e.idempotency_key, ':', 2) || ':' || l.member_id
      FROM journal_entry e
     WHERE e.id = l.entry_id AND l.kind = 'retained_patronage' AND starts_with(e.idempotency_key, 'allocation:')
    """)
    op.create_unique_constraint("uq_equity_lot_source_key", "equity_lot", ["source_key"])
