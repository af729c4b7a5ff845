"""Suppliers, products, and their price versions (immutable once written)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.db import utc_now


class Supplier(SQLModel, table=True):
    """A business the co-op buys from; its users fill purchase orders and report deliveries.

    `member_id` links it to a member business that is also this supplier (docs/network.md,
    members as suppliers); unique, so a member is at most one supplier.
    """

    __tablename__ = "supplier"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    member_id: int | None = Field(
        default=None, sa_type=sa.BigInteger, foreign_key="member.id", sa_column_kwargs={"unique": True}
    )
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )


class Product(SQLModel, table=True):
    """Something one supplier sells by the case; `price_version` names its current prices."""

    __tablename__ = "product"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "sku", name="uq_product_supplier_sku"),
        sa.CheckConstraint("case_size >= 1", name="case_size_positive"),
        sa.CheckConstraint("price_version >= 1", name="price_version_positive"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    supplier_id: int = Field(sa_type=sa.BigInteger, foreign_key="supplier.id", index=True)
    sku: str = Field(max_length=100)
    name: str = Field(max_length=200)
    unit: str = Field(max_length=50)
    case_size: int
    pool: str = Field(max_length=50)
    price_version: int = Field(default=1)
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    # Retired products join no new group buy; buys and orders that have them keep them.
    retired_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ProductPriceVersion(SQLModel, table=True):
    """One version of a product's prices: markup and tiers; never edited, a change is a new version.

    A group buy freezes the version it closed with, so later changes never alter it.
    """

    __tablename__ = "product_price_version"
    __table_args__ = (
        sa.UniqueConstraint("product_id", "version", name="uq_product_price_version_product_version"),
        sa.CheckConstraint("markup_rate >= 0", name="markup_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    product_id: int = Field(sa_type=sa.BigInteger, foreign_key="product.id")
    version: int
    markup_rate: Decimal = Field(sa_type=sa.Numeric(12, 6))
    created_at: datetime = Field(
        default_factory=utc_now, sa_type=sa.DateTime(timezone=True), sa_column_kwargs={"server_default": sa.func.now()}
    )
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger)


class ProductPriceTier(SQLModel, table=True):
    """One tier of a price version: `unit_price_cents` once the group buys `min_quantity` units."""

    __tablename__ = "product_price_tier"
    __table_args__ = (
        sa.CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        sa.CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
    )

    price_version_id: int = Field(sa_type=sa.BigInteger, foreign_key="product_price_version.id", primary_key=True)
    min_quantity: int = Field(primary_key=True)
    unit_price_cents: int = Field(sa_type=sa.BigInteger)
