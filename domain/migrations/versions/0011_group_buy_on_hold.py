"""Group buys held for a staff decision get their own status, `on_hold`, instead of `closing`; products retire;
staff payments to suppliers for purchase orders.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status IN ('scheduled','open','closing','ordered','delivered','settled','cancelled')"
NEW = "status IN ('scheduled','open','on_hold','ordered','delivered','settled','cancelled')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_group_buy_status"), "group_buy", type_="check")
    # `closing` was only ever seen on a buy held for staff
    op.execute("UPDATE group_buy SET status = 'on_hold' WHERE status = 'closing'")
    op.create_check_constraint(op.f("ck_group_buy_status"), "group_buy", NEW)
    op.add_column("product", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "supplier_payment",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("group_buy_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("paid_by", sa.BigInteger(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_supplier_payment_amount_positive")),
        sa.CheckConstraint("method IN ('cash','check','bank_transfer')", name=op.f("ck_supplier_payment_method")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_supplier_payment_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(["group_buy_id"], ["group_buy.id"], name=op.f("fk_supplier_payment_group_buy_id_group_buy")),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"], name=op.f("fk_supplier_payment_supplier_id_supplier")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_payment")),
    )
    op.create_index(op.f("ix_supplier_payment_group_buy_id"), "supplier_payment", ["group_buy_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_supplier_payment_group_buy_id"), table_name="supplier_payment")
    op.drop_table("supplier_payment")
    op.drop_column("product", "retired_at")
    op.drop_constraint(op.f("ck_group_buy_status"), "group_buy", type_="check")
    op.execute("UPDATE group_buy SET status = 'closing' WHERE status = 'on_hold'")
    op.create_check_constraint(op.f("ck_group_buy_status"), "group_buy", OLD)
