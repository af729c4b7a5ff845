"""A redemption line's lot and member are checked once per statement; no index nobody reads.

A redemption run writes 200,000 lines at 100k members x 15 years. Their one remaining foreign
key, ``(lot_id, member_id)`` on ``equity_lot (id, member_id)`` (0035), ran one lookup a line:
2.4-6.8 s of the lines statement on the busy machine (docs/performance.md, twenty-sixth part).
It becomes a statement trigger of the same name as in 0033 and 0036
(domain/migrations/references.py), and ``equity_lot`` keeps its key: DELETE, a change of
``id`` or ``member_id`` and TRUNCATE are refused. Then two indexes lose their last reader:
``uq_equity_lot_id_member_id`` was there for the foreign key (the trigger probes the primary key
and compares the member on the row found), and ``ix_redemption_line_lot_id`` for a lot's
deletion checking its lines (refused now); every reader of a run's lines goes by run. So each
line writes three index entries instead of four, and each new lot (year-end approval) two fewer.

Revision ID: 0038
Revises: 0036
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from domain.migrations.references import key_kept, key_not_kept, pair_checked_per_row, pair_checked_per_statement

revision: str = "0038"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINE_LOT = ("redemption_line", "lot_id", "member_id", "equity_lot")


def upgrade() -> None:
    # One statement per execute: the migrations run on asyncpg, which prepares each one.
    for statement in pair_checked_per_statement(*LINE_LOT, updates=True):
        op.execute(statement)
    for statement in key_kept("equity_lot", ("id", "member_id")):
        op.execute(statement)
    op.drop_constraint("uq_equity_lot_id_member_id", "equity_lot", type_="unique")
    op.drop_index("ix_redemption_line_lot_id", table_name="redemption_line")


def downgrade() -> None:
    op.create_index("ix_redemption_line_lot_id", "redemption_line", ["lot_id"], unique=False)
    op.create_unique_constraint("uq_equity_lot_id_member_id", "equity_lot", ["id", "member_id"])
    for statement in key_not_kept("equity_lot"):
        op.execute(statement)
    for statement in pair_checked_per_row(*LINE_LOT, updates=True):
        op.execute(statement)
