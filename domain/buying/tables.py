"""Group buys, their items, members' orders, order lines and the increments behind them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col

from domain.db import utc_now

# Every order change takes the next number: the queue position of first_come and the tie-breaker of pro_rata.
ORDER_CHANGE_SEQ = sa.Sequence("order_change_seq", metadata=SQLModel.metadata)


class GroupBuy(SQLModel, table=True):
    """One supplier, a set of products, a deadline; the state machine of DOMAIN.md section 2."""

    __tablename__ = "group_buy"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('scheduled','open','on_hold','ordered','delivered','settled','cancelled')", name="status"
        ),
        sa.CheckConstraint("on_minimum_missed IN ('cancel','proceed','extend','hold')", name="on_minimum_missed"),
        sa.CheckConstraint("allocation_policy IN ('pro_rata','first_come')", name="allocation_policy"),
        sa.CheckConstraint("payment_mode IN ('account','card')", name="payment_mode"),
        sa.CheckConstraint("opens_at < closes_at", name="opens_before_closing"),
        sa.CheckConstraint("min_value_cents IS NULL OR min_value_cents >= 0", name="min_value_not_negative"),
        sa.CheckConstraint("extend_hours BETWEEN 1 AND 8760", name="extend_hours"),
        sa.Index("ix_group_buy_status_opens_at", "status", "opens_at"),
        sa.Index("ix_group_buy_status_closes_at", "status", "closes_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    supplier_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier.id", index=True)
    title: str = Field(max_length=200)
    status: str = Field(max_length=16)
    opens_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    closes_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    min_value_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    on_minimum_missed: str = Field(default="cancel", max_length=16)
    extend_hours: int = Field(default=24)
    extended: bool = Field(default=False)
    held: bool = Field(default=False)
    minimum_met: bool | None = Field(default=None)
    allocation_policy: str = Field(default="pro_rata", max_length=16)
    payment_mode: str = Field(default="account", max_length=16)
    supplier_value_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    status_reason: str = Field(default="", max_length=500)
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    settled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class GroupBuyItem(SQLModel, table=True):
    """A product of a group buy; case size and pool are copied at creation, prices and cases frozen at close."""

    __tablename__ = "group_buy_item"
    __table_args__ = (
        sa.CheckConstraint("case_size >= 1", name="case_size_positive"),
        sa.CheckConstraint(
            "delivered_quantity IS NULL OR delivered_quantity <= bought_quantity", name="delivered_at_most_bought"
        ),
    )

    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id", primary_key=True)
    product_id: int = Field(sa_type=sa.BigInteger, foreign_key="product.id", primary_key=True, index=True)
    position: int
    case_size: int
    pool: str = Field(max_length=50)
    price_version_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="product_price_version.id")
    unit_price_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    markup_rate: Decimal | None = Field(default=None, sa_type=sa.Numeric(12, 6))
    quantity: int | None = Field(default=None)
    flex_quantity: int | None = Field(default=None)
    cases: int | None = Field(default=None)
    bought_quantity: int | None = Field(default=None)
    delivered_quantity: int | None = Field(default=None)


class BuyOrder(SQLModel, table=True):
    """A member's one order in a group buy."""

    __tablename__ = "buy_order"
    __table_args__ = (
        sa.UniqueConstraint("group_buy_id", "member_id", name="uq_buy_order_group_buy_member"),
        sa.CheckConstraint("status IN ('open','allocated','settled','cancelled')", name="status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id")
    member_id: int = Field(sa_type=sa.BigInteger, foreign_key="member.id", index=True)
    status: str = Field(default="open", max_length=16)
    placed_seq: int = Field(sa_type=sa.BigInteger)
    placed_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    updated_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class OrderLine(SQLModel, table=True):
    """One product of an order: current firm quantity and flex (the sums of its increments), then the outcome."""

    __tablename__ = "order_line"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "product_id", name="uq_order_line_order_product"),
        sa.CheckConstraint("quantity >= 0 AND flex_quantity >= 0", name="quantities_not_negative"),
        sa.CheckConstraint(
            "allocated_quantity IS NULL OR allocated_quantity BETWEEN 0 AND quantity + flex_quantity",
            name="allocation_bounded",
        ),
        sa.CheckConstraint(
            "delivered_quantity IS NULL OR delivered_quantity BETWEEN 0 AND allocated_quantity",
            name="delivery_bounded",
        ),
        sa.Index("ix_order_line_group_buy_product", "group_buy_id", "product_id"),
        # Half of each page free: the close and the delivery update every line of a buy in place
        # (no indexed column changes), see migration 0027.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    order_id: int = Field(sa_type=sa.BigInteger, foreign_key="buy_order.id")
    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id")
    product_id: int = Field(sa_type=sa.BigInteger, foreign_key="product.id")
    quantity: int = Field(default=0)
    flex_quantity: int = Field(default=0)
    allocated_quantity: int | None = Field(default=None)
    delivered_quantity: int | None = Field(default=None)
    unit_price_cents: int | None = Field(default=None, sa_type=sa.BigInteger)
    total_cents: int | None = Field(default=None, sa_type=sa.BigInteger)


class OrderDeliveryTotal(SQLModel, table=True):
    """An allocated order's lines of one pool as the delivery priced them: what the settlement charges.

    Written by the delivery in the statement that prices the lines, read by the settlement
    (one row an order and pool instead of every line). The delivery as reported: a later
    correction is its own record and does not change it.
    """

    __tablename__ = "order_delivery_total"
    __table_args__ = (sa.CheckConstraint("delivered_cents >= 0 AND short_units >= 0", name="not_negative"),)

    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id", primary_key=True)
    order_id: int = Field(sa_type=sa.BigInteger, foreign_key="buy_order.id", primary_key=True)
    pool: str = Field(max_length=50, primary_key=True)
    delivered_cents: int = Field(sa_type=sa.BigInteger)
    short_units: int


class OrderIncrement(SQLModel, table=True):
    """Units added to a line at one change (`at_seq`, `created_at`); decreases eat the newest first."""

    __tablename__ = "order_increment"
    __table_args__ = (
        sa.UniqueConstraint("order_line_id", "at_seq", name="uq_order_increment_line_seq"),
        sa.CheckConstraint(
            "quantity >= 0 AND flex_quantity >= 0 AND quantity + flex_quantity > 0", name="units_positive"
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    order_line_id: int = Field(sa_type=sa.BigInteger, foreign_key="order_line.id")
    at_seq: int = Field(sa_type=sa.BigInteger)
    quantity: int
    flex_quantity: int
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


# Totals rows per (group buy, product) are split into this many shards, one per database
# connection (backend pid modulo this), so order writes into one hot buy on different
# connections update different rows instead of queueing on one row lock until each other's
# COMMIT. Only the sum over shards means anything (a shard alone may go below zero: a
# decrease lands in the shard of the connection that makes it); a read sums at most this
# many rows per product.
TOTAL_SHARDS = 64


class GroupBuyTotal(SQLModel, table=True):
    """Running sums of the stored order lines of one product of a group buy (one shard of them).

    Kept in the transaction of every write to order lines, as ``quantity = quantity + delta``;
    the sum over shards always equals ``SUM(order_line.quantity)`` (and flex) for the product.
    No ``>= 0`` check: PostgreSQL checks an upsert's proposed row before it finds the conflict,
    so a negative delta (a decrease) would be refused even though it only ever updates.
    """

    __tablename__ = "group_buy_total"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["group_buy_id", "product_id"],
            ["group_buy_item.group_buy_id", "group_buy_item.product_id"],
            name="fk_group_buy_total_item",
        ),
        sa.CheckConstraint(f"shard >= 0 AND shard < {TOTAL_SHARDS}", name="shard_in_range"),
    )

    group_buy_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    product_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    shard: int = Field(sa_type=sa.SmallInteger, primary_key=True)
    quantity: int = Field(default=0, sa_type=sa.BigInteger)
    flex_quantity: int = Field(default=0, sa_type=sa.BigInteger)


class SupplierPayment(SQLModel, table=True):
    """Staff paying a supplier for a group buy's delivered goods; the ledger entry is the money."""

    __tablename__ = "supplier_payment"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("method IN ('cash','check','bank_transfer','stripe_transfer')", name="method"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id", index=True)
    supplier_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier.id")
    amount_cents: int = Field(sa_type=sa.BigInteger)
    method: str = Field(max_length=16)
    entry_id: int = Field(sa_type=sa.BigInteger, foreign_key="journal_entry.id")
    paid_by: int | None = Field(default=None, sa_type=sa.BigInteger)
    paid_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The Stripe transfer id when the co-op paid by Connect (``stripe_transfer``); unique, so once.
    reference: str | None = Field(default=None, max_length=255, unique=True)


class SupplierTransferReversal(SQLModel, table=True):
    """Part of a Connect transfer taken back from the supplier after a correction lowered what it is owed."""

    __tablename__ = "supplier_transfer_reversal"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.UniqueConstraint("group_buy_id", "correction_id", name="uq_supplier_transfer_reversal_group_buy_correction"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id", index=True)
    correction_id: int = Field(sa_type=sa.BigInteger, foreign_key="buy_correction.id")
    transfer_id: str = Field(max_length=255)
    reversal_id: str = Field(max_length=255, unique=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    entry_id: int = Field(sa_type=sa.BigInteger, foreign_key="journal_entry.id")
    reversed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class BuyCorrection(SQLModel, table=True):
    """Staff lowering the delivered units of a settled buy; members are given back the difference."""

    __tablename__ = "buy_correction"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    group_buy_id: int = Field(sa_type=sa.BigInteger, foreign_key="group_buy.id", index=True)
    reason: str = Field(max_length=500)
    refunded_cents: int = Field(sa_type=sa.BigInteger)
    actor_user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


# An order line's item in its group buy (the product's pool, case size and prices): the join
# every read of lines by pool uses.
LINE_ITEM = sa.and_(
    col(GroupBuyItem.group_buy_id) == col(OrderLine.group_buy_id),
    col(GroupBuyItem.product_id) == col(OrderLine.product_id),
)
