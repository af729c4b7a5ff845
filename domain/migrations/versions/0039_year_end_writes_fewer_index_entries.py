"""Year end writes fewer index entries and probes: retained lots stay out of the import key's index.

The computation's 100,000 allocation lines no longer enter an index on member_id alone: its one
reader, a member's notices (domain/allocation/listing.py), joins the posted runs and was already
planned on the unique (run_id, member_id), one probe a run, with or without it; every other
reader of the lines names the run.

Approval writes 100,000 retained lots at 100k members, all with no `external_ref` (only an
imported lot has the sender's key); the unique index on it held a NULL entry for each, which no
query reads: the one reader, the lot import's look-up of refs already imported
(`external_ref IN (...)`), implies NOT NULL, so a partial index serves it, and uniqueness of
the refs is unchanged (NULLs never conflicted).

The statement checks of three references whose bulk writers give every row one parent (a run's
postings all go to its one entry; a run's allocation or redemption lines all belong to the run)
probe each distinct key once instead of once per row (domain/migrations/references.py): 100,000
probes of the same parent became one.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.migrations.references import probed_once_per_key, probed_once_per_row

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_PARENT_PER_STATEMENT = (
    ("posting", "entry_id", "journal_entry"),
    ("allocation_line", "run_id", "allocation_run"),
    ("redemption_line", "run_id", "redemption_run"),
)


def upgrade() -> None:
    op.drop_constraint("uq_equity_lot_external_ref", "equity_lot", type_="unique")
    op.create_index(
        "uq_equity_lot_external_ref",
        "equity_lot",
        ["external_ref"],
        unique=True,
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    )
    for table, column, parent in ONE_PARENT_PER_STATEMENT:
        op.execute(probed_once_per_key(table, column, parent))
    op.drop_index("ix_allocation_line_member_id", table_name="allocation_line")


def downgrade() -> None:
    op.create_index("ix_allocation_line_member_id", "allocation_line", ["member_id"], unique=False)
    for table, column, parent in ONE_PARENT_PER_STATEMENT:
        op.execute(probed_once_per_row(table, column, parent))
    op.drop_index("uq_equity_lot_external_ref", table_name="equity_lot")
    op.create_unique_constraint("uq_equity_lot_external_ref", "equity_lot", ["external_ref"])
