"""The run keys and members of allocation and redemption lines are checked once per statement.

A year-end computation writes 100,000 allocation lines at 100k members and a redemption run
200,000 lines; each line's foreign keys ran one lookup per row (the run and the member of an
allocation line: about 1.9 s of the computation's 3.9-4.4 s of backend CPU, docs/performance.md
part 19; the run of a redemption line). They become statement triggers as in 0033
(domain/migrations/references.py), and the runs keep their keys as members already do. The
allocation lines' index on the run alone goes: the unique (run_id, member_id) serves every
look-up by run.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

from domain.migrations.references import checked_per_row, checked_per_statement, key_kept, key_not_kept

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCES = (
    ("allocation_line", "run_id", "allocation_run"),
    ("allocation_line", "member_id", "member"),
    ("redemption_line", "run_id", "redemption_run"),
)
KEPT_PARENTS = ("allocation_run", "redemption_run")  # member is kept since 0033


def upgrade() -> None:
    # One statement per execute: the migrations run on asyncpg, which prepares each one.
    op.drop_index("ix_allocation_line_run_id", table_name="allocation_line")
    for table, column, parent in REFERENCES:
        for statement in checked_per_statement(table, column, parent, updates=True):
            op.execute(statement)
    for parent in KEPT_PARENTS:
        for statement in key_kept(parent):
            op.execute(statement)


def downgrade() -> None:
    for parent in KEPT_PARENTS:
        for statement in key_not_kept(parent):
            op.execute(statement)
    for table, column, parent in REFERENCES:
        for statement in checked_per_row(table, column, parent, updates=True):
            op.execute(statement)
    op.create_index("ix_allocation_line_run_id", "allocation_line", ["run_id"], unique=False)
