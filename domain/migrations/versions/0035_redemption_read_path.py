"""A FIFO redemption reads lot balances from an index and checks each line's lot and member in one foreign key.

- ``ix_posting_account_id`` covers ``side`` and ``amount_cents``: a lot's outstanding (its
  account's credits less its debits) is an index-only scan of that account's entries, so a run
  reads the lots it reaches one by one instead of hashing every posting of the ledger
  (docs/performance.md, "Redemption under 10 s").
- ``redemption_line`` referenced ``equity_lot`` and ``member`` with two foreign keys, two checks
  a line (200,000 lines at 100k members: 200,000 extra checks). One key ``(lot_id, member_id)``
  on ``equity_lot (id, member_id)`` checks both and more: the line's member is its lot's member
  (the lot's own key to ``member`` keeps the member existing).

Revision ID: 0035
Revises: 0033
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_posting_account_id", table_name="posting")
    op.create_index(
        "ix_posting_account_id", "posting", ["account_id"], unique=False, postgresql_include=["side", "amount_cents"]
    )
    op.create_unique_constraint(op.f("uq_equity_lot_id_member_id"), "equity_lot", ["id", "member_id"])
    op.drop_constraint("fk_redemption_line_lot_id_equity_lot", "redemption_line", type_="foreignkey")
    op.drop_constraint("fk_redemption_line_member_id_member", "redemption_line", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_redemption_line_lot_id_equity_lot"),
        "redemption_line",
        "equity_lot",
        ["lot_id", "member_id"],
        ["id", "member_id"],
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_redemption_line_lot_id_equity_lot"), "redemption_line", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_redemption_line_member_id_member"), "redemption_line", "member", ["member_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_redemption_line_lot_id_equity_lot"), "redemption_line", "equity_lot", ["lot_id"], ["id"]
    )
    op.drop_constraint(op.f("uq_equity_lot_id_member_id"), "equity_lot", type_="unique")
    op.drop_index("ix_posting_account_id", table_name="posting")
    op.create_index("ix_posting_account_id", "posting", ["account_id"], unique=False)
