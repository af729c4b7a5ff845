"""Group buys: suppliers, products with versioned prices, group buys, orders and increments, patronage records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 07:36:35.311630
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# What is written once stays as written: price versions (a closed group buy points at the one
# it froze) and patronage records (year-end allocation reads them; corrections are new rows).
APPEND_ONLY_TABLES = ("product_price_version", "product_price_tier", "patronage_record")

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: rows are immutable; write a new one instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
"""


def _guard(table: str) -> list[str]:
    # asyncpg runs one statement at a time
    return [
        f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION reject_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION reject_change()",
    ]


def _unguard(table: str) -> list[str]:
    return [f"DROP TRIGGER {table}_no_truncate ON {table}", f"DROP TRIGGER {table}_immutable ON {table}"]


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("order_change_seq")))
    op.create_table('supplier',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('group_buy',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('supplier_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('min_value_cents', sa.BigInteger(), nullable=True),
    sa.Column('on_minimum_missed', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('extend_hours', sa.Integer(), nullable=False),
    sa.Column('extended', sa.Boolean(), nullable=False),
    sa.Column('held', sa.Boolean(), nullable=False),
    sa.Column('minimum_met', sa.Boolean(), nullable=True),
    sa.Column('allocation_policy', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('payment_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('supplier_value_cents', sa.BigInteger(), nullable=True),
    sa.Column('status_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("allocation_policy IN ('pro_rata','first_come')", name='allocation_policy'),
    sa.CheckConstraint("on_minimum_missed IN ('cancel','proceed','extend','hold')", name='on_minimum_missed'),
    sa.CheckConstraint("payment_mode IN ('account','card')", name='payment_mode'),
    sa.CheckConstraint("status IN ('scheduled','open','closing','ordered','delivered','settled','cancelled')", name='status'),
    sa.CheckConstraint('extend_hours BETWEEN 1 AND 8760', name='extend_hours'),
    sa.CheckConstraint('min_value_cents IS NULL OR min_value_cents >= 0', name='min_value_not_negative'),
    sa.CheckConstraint('opens_at < closes_at', name='opens_before_closing'),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name='fk_group_buy_supplier_id_supplier'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_group_buy_status_closes_at', 'group_buy', ['status', 'closes_at'], unique=False)
    op.create_index('ix_group_buy_status_opens_at', 'group_buy', ['status', 'opens_at'], unique=False)
    op.create_index(op.f('ix_group_buy_supplier_id'), 'group_buy', ['supplier_id'], unique=False)
    op.create_table('product',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('supplier_id', sa.BigInteger(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('case_size', sa.Integer(), nullable=False),
    sa.Column('pool', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('price_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('case_size >= 1', name='case_size_positive'),
    sa.CheckConstraint('price_version >= 1', name='price_version_positive'),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name='fk_product_supplier_id_supplier'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('supplier_id', 'sku', name='uq_product_supplier_sku')
    )
    op.create_index(op.f('ix_product_supplier_id'), 'product', ['supplier_id'], unique=False)
    op.create_table('buy_order',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('group_buy_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('placed_seq', sa.BigInteger(), nullable=False),
    sa.Column('placed_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open','allocated','settled','cancelled')", name='status'),
    sa.ForeignKeyConstraint(['group_buy_id'], ['group_buy.id'], name='fk_buy_order_group_buy_id_group_buy'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name='fk_buy_order_member_id_member'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_buy_id', 'member_id', name='uq_buy_order_group_buy_member')
    )
    op.create_index(op.f('ix_buy_order_member_id'), 'buy_order', ['member_id'], unique=False)
    op.create_table('patronage_record',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=True),
    sa.Column('member_business', sa.Boolean(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('pool', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('group_buy_id', sa.BigInteger(), nullable=True),
    sa.Column('external_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("source <> 'group_buy' OR group_buy_id IS NOT NULL", name='group_buy_source'),
    sa.CheckConstraint("source IN ('group_buy','import','correction')", name='source'),
    sa.CheckConstraint('amount_cents <> 0', name='amount_not_zero'),
    sa.CheckConstraint('member_id IS NOT NULL OR NOT member_business', name='member_business_has_member'),
    sa.ForeignKeyConstraint(['group_buy_id'], ['group_buy.id'], name='fk_patronage_record_group_buy_id_group_buy'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name='fk_patronage_record_member_id_member'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_ref'),
    sa.UniqueConstraint('source_key')
    )
    op.create_index('ix_patronage_record_fiscal_year_member_pool', 'patronage_record', ['fiscal_year', 'member_id', 'pool'], unique=False)
    op.create_index(op.f('ix_patronage_record_group_buy_id'), 'patronage_record', ['group_buy_id'], unique=False)
    op.create_index(op.f('ix_patronage_record_member_id'), 'patronage_record', ['member_id'], unique=False)
    op.create_table('product_price_version',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('product_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('markup_rate', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('markup_rate >= 0', name='markup_not_negative'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name='fk_product_price_version_product_id_product'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_id', 'version', name='uq_product_price_version_product_version')
    )
    op.create_table('group_buy_item',
    sa.Column('group_buy_id', sa.BigInteger(), nullable=False),
    sa.Column('product_id', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('case_size', sa.Integer(), nullable=False),
    sa.Column('pool', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('price_version_id', sa.BigInteger(), nullable=True),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=True),
    sa.Column('markup_rate', sa.Numeric(precision=12, scale=6), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('flex_quantity', sa.Integer(), nullable=True),
    sa.Column('cases', sa.Integer(), nullable=True),
    sa.Column('bought_quantity', sa.Integer(), nullable=True),
    sa.Column('delivered_quantity', sa.Integer(), nullable=True),
    sa.CheckConstraint('case_size >= 1', name='case_size_positive'),
    sa.CheckConstraint('delivered_quantity IS NULL OR delivered_quantity <= bought_quantity', name='delivered_at_most_bought'),
    sa.ForeignKeyConstraint(['group_buy_id'], ['group_buy.id'], name='fk_group_buy_item_group_buy_id_group_buy'),
    sa.ForeignKeyConstraint(['price_version_id'], ['product_price_version.id'], name='fk_group_buy_item_price_version_id_product_price_version'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name='fk_group_buy_item_product_id_product'),
    sa.PrimaryKeyConstraint('group_buy_id', 'product_id')
    )
    op.create_index(op.f('ix_group_buy_item_product_id'), 'group_buy_item', ['product_id'], unique=False)
    op.create_table('order_line',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('group_buy_id', sa.BigInteger(), nullable=False),
    sa.Column('product_id', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('flex_quantity', sa.Integer(), nullable=False),
    sa.Column('allocated_quantity', sa.Integer(), nullable=True),
    sa.Column('delivered_quantity', sa.Integer(), nullable=True),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=True),
    sa.Column('total_cents', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('allocated_quantity IS NULL OR allocated_quantity BETWEEN 0 AND quantity + flex_quantity', name='allocation_bounded'),
    sa.CheckConstraint('delivered_quantity IS NULL OR delivered_quantity BETWEEN 0 AND allocated_quantity', name='delivery_bounded'),
    sa.CheckConstraint('quantity >= 0 AND flex_quantity >= 0', name='quantities_not_negative'),
    sa.ForeignKeyConstraint(['group_buy_id'], ['group_buy.id'], name='fk_order_line_group_buy_id_group_buy'),
    sa.ForeignKeyConstraint(['order_id'], ['buy_order.id'], name='fk_order_line_order_id_buy_order'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name='fk_order_line_product_id_product'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id', 'product_id', name='uq_order_line_order_product')
    )
    op.create_index('ix_order_line_group_buy_product', 'order_line', ['group_buy_id', 'product_id'], unique=False)
    op.create_table('product_price_tier',
    sa.Column('price_version_id', sa.BigInteger(), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('min_quantity >= 1', name='min_quantity_positive'),
    sa.CheckConstraint('unit_price_cents >= 0', name='price_not_negative'),
    sa.ForeignKeyConstraint(['price_version_id'], ['product_price_version.id'], name='fk_product_price_tier_price_version_id_product_price_version'),
    sa.PrimaryKeyConstraint('price_version_id', 'min_quantity')
    )
    op.create_table('order_increment',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('order_line_id', sa.BigInteger(), nullable=False),
    sa.Column('at_seq', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('flex_quantity', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity >= 0 AND flex_quantity >= 0 AND quantity + flex_quantity > 0', name='units_positive'),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name='fk_order_increment_order_line_id_order_line'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_line_id', 'at_seq', name='uq_order_increment_line_seq')
    )
    op.create_foreign_key('fk_app_user_supplier_id_supplier', 'app_user', 'supplier', ['supplier_id'], ['id'])
    op.execute(APPEND_ONLY_FUNCTION)
    for table in APPEND_ONLY_TABLES:
        for statement in _guard(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY_TABLES:
        for statement in _unguard(table):
            op.execute(statement)
    op.execute("DROP FUNCTION reject_change();")
    op.drop_constraint('fk_app_user_supplier_id_supplier', 'app_user', type_='foreignkey')
    op.drop_table('order_increment')
    op.drop_table('product_price_tier')
    op.drop_index('ix_order_line_group_buy_product', table_name='order_line')
    op.drop_table('order_line')
    op.drop_index(op.f('ix_group_buy_item_product_id'), table_name='group_buy_item')
    op.drop_table('group_buy_item')
    op.drop_table('product_price_version')
    op.drop_index(op.f('ix_patronage_record_member_id'), table_name='patronage_record')
    op.drop_index(op.f('ix_patronage_record_group_buy_id'), table_name='patronage_record')
    op.drop_index('ix_patronage_record_fiscal_year_member_pool', table_name='patronage_record')
    op.drop_table('patronage_record')
    op.drop_index(op.f('ix_buy_order_member_id'), table_name='buy_order')
    op.drop_table('buy_order')
    op.drop_index(op.f('ix_product_supplier_id'), table_name='product')
    op.drop_table('product')
    op.drop_index(op.f('ix_group_buy_supplier_id'), table_name='group_buy')
    op.drop_index('ix_group_buy_status_opens_at', table_name='group_buy')
    op.drop_index('ix_group_buy_status_closes_at', table_name='group_buy')
    op.drop_table('group_buy')
    op.drop_table('supplier')
    op.execute(sa.schema.DropSequence(sa.Sequence("order_change_seq")))
