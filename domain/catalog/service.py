"""Catalog use cases: suppliers, products, and price changes as new versions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.catalog.rules import Tier, markup_errors, pool_errors, price_change_refusal, tier_errors
from domain.catalog.tables import Product, ProductPriceTier, ProductPriceVersion, Supplier
from domain.errors import ConflictError, FieldError, ForbiddenError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class Prices:
    """One price version of a product: its id, number, markup and tiers (lowest min_quantity first)."""

    version_id: int
    version: int
    markup_rate: Decimal
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product with its current prices."""

    product: Product
    prices: Prices


# --- suppliers -----------------------------------------------------------------------


async def create_supplier(session: AsyncSession, *, name: str, email: str) -> Supplier:
    """Register a supplier."""
    supplier = Supplier(name=name.strip(), email=email.strip().lower())
    session.add(supplier)
    await session.flush()
    return supplier


async def get_supplier(session: AsyncSession, supplier_id: int, *, only_supplier_id: int | None = None) -> Supplier:
    """The supplier, or 404 (also for a supplier's users asking about another supplier)."""
    supplier = await session.get(Supplier, supplier_id)
    if supplier is None or (only_supplier_id is not None and supplier_id != only_supplier_id):
        raise NotFoundError(f"supplier {supplier_id} not found")
    return supplier


async def supplier_page(
    session: AsyncSession, *, after_id: int, limit: int, only_supplier_id: int | None = None
) -> list[Supplier]:
    """Suppliers in id order after a cursor; a supplier's users see only their own."""
    query = select(Supplier).where(col(Supplier.id) > after_id).order_by(col(Supplier.id)).limit(limit)
    if only_supplier_id is not None:
        query = query.where(col(Supplier.id) == only_supplier_id)
    return list((await session.exec(query)).all())


# --- products ------------------------------------------------------------------------


def _price_errors(tiers: Sequence[Tier], markup_rate: Decimal) -> list[FieldError]:
    return [*tier_errors(tiers), *markup_errors(markup_rate)]


@dataclass(frozen=True, slots=True)
class NewProduct:
    """What a new product needs (DOMAIN.md section 2: case size, pool, markup, tiers)."""

    supplier_id: int
    sku: str
    name: str
    unit: str
    case_size: int
    pool: str
    markup_rate: Decimal | None
    tiers: tuple[Tier, ...]


async def create_product(
    session: AsyncSession, new: NewProduct, *, actor: int, only_supplier_id: int | None = None
) -> ProductView:
    """Add a product with its first price version; a SKU is unique per supplier (409)."""
    if only_supplier_id is not None and new.supplier_id != only_supplier_id:
        raise ForbiddenError("a supplier may add products to its own catalog only")
    _markup_is_staffs(new.markup_rate, only_supplier_id)
    markup_rate = Decimal(0) if new.markup_rate is None else new.markup_rate
    errors = [*pool_errors(new.pool), *_price_errors(new.tiers, markup_rate)]
    if new.case_size < 1:
        errors.append(FieldError("case_size", "must be at least 1"))
    if await session.get(Supplier, new.supplier_id) is None:
        errors.append(FieldError("supplier_id", f"no supplier {new.supplier_id}"))
    if errors:
        raise InvalidInputError("the product is not valid", errors)
    product_id = (
        await session.execute(
            insert(Product)
            .values(
                supplier_id=new.supplier_id,
                sku=new.sku,
                name=new.name,
                unit=new.unit,
                case_size=new.case_size,
                pool=new.pool,
            )
            .on_conflict_do_nothing(constraint="uq_product_supplier_sku")
            .returning(col(Product.id))
        )
    ).scalar_one_or_none()
    if product_id is None:
        raise ConflictError(f"supplier {new.supplier_id} already has a product with SKU {new.sku}")
    prices = await _add_version(session, product_id, 1, markup_rate, new.tiers, actor)
    product = await session.get(Product, product_id)
    assert product is not None  # noqa: S101 - inserted just above
    return ProductView(product, prices)


def _markup_is_staffs(markup_rate: Decimal | None, only_supplier_id: int | None) -> None:
    """The markup is the co-op's margin, set by staff; a supplier may neither set nor change it."""
    if only_supplier_id is not None and markup_rate is not None:
        raise ForbiddenError("markup_rate is the co-op's to set: only staff may give it")


async def _add_version(
    session: AsyncSession, product_id: int, version: int, markup_rate: Decimal, tiers: Sequence[Tier], actor: int
) -> Prices:
    version_id = (
        await session.execute(
            sa.insert(ProductPriceVersion)
            .values(product_id=product_id, version=version, markup_rate=markup_rate, created_by=actor)
            .returning(col(ProductPriceVersion.id))
        )
    ).scalar_one()
    await session.execute(
        sa.insert(ProductPriceTier),
        [
            {"price_version_id": version_id, "min_quantity": t.min_quantity, "unit_price_cents": t.unit_price_cents}
            for t in tiers
        ],
    )
    return Prices(version_id, version, markup_rate, tuple(tiers))


async def change_prices(
    session: AsyncSession,
    product_id: int,
    *,
    tiers: Sequence[Tier],
    markup_rate: Decimal | None,
    actor: int,
    only_supplier_id: int | None = None,
) -> ProductView:
    """New tiers (and markup, if given) as a new version; the same prices again change nothing.

    Group buys keep the version they opened with (buying.pricing offers them a lower one).
    A retired product's prices no longer change (409 `product_retired`), judged under the
    product's row lock, which a retirement takes too.
    """
    _markup_is_staffs(markup_rate, only_supplier_id)
    locked = select(Product).where(col(Product.id) == product_id).with_for_update()
    product = (await session.exec(locked.execution_options(populate_existing=True))).one_or_none()
    if product is None or (only_supplier_id is not None and product.supplier_id != only_supplier_id):
        raise NotFoundError(f"product {product_id} not found")
    current = (await prices_of(session, [product_id]))[product_id]
    markup = current.markup_rate if markup_rate is None else markup_rate
    if errors := _price_errors(tiers, markup):
        raise InvalidInputError("the prices are not valid", errors)
    if tuple(tiers) == current.tiers and markup == current.markup_rate:
        return ProductView(product, current)
    if (refusal := price_change_refusal(product.retired_at)) is not None:
        raise refusal
    prices = await _add_version(session, product_id, product.price_version + 1, markup, tiers, actor)
    product.price_version = prices.version
    session.add(product)
    await session.flush()
    return ProductView(product, prices)


@dataclass(frozen=True, slots=True)
class ProductEdit:
    """The fields a PATCH changes; None leaves a field as it is."""

    name: str | None = None
    unit: str | None = None
    sku: str | None = None
    pool: str | None = None


async def _locked_product(session: AsyncSession, product_id: int, only_supplier_id: int | None) -> Product:
    locked = select(Product).where(col(Product.id) == product_id).with_for_update()
    product = (await session.exec(locked.execution_options(populate_existing=True))).one_or_none()
    if product is None or (only_supplier_id is not None and product.supplier_id != only_supplier_id):
        raise NotFoundError(f"product {product_id} not found")
    return product


async def edit_product(
    session: AsyncSession, product_id: int, edit: ProductEdit, *, only_supplier_id: int | None = None
) -> ProductView:
    """Change a product's name, unit, SKU or pool (the pool is staff's: 403 from a supplier).

    Group buys copied the pool when they took the product, so a new pool applies to later
    buys only; name, unit and SKU are shown wherever the product is. A SKU another product
    of the supplier has is a 409 (the unique constraint decides, not a look-up first).
    """
    if only_supplier_id is not None and edit.pool is not None:
        raise ForbiddenError("the patronage pool is the co-op's to set: only staff may change it")
    if edit.pool is not None and (errors := pool_errors(edit.pool)):
        raise InvalidInputError("the product is not valid", errors)
    product = await _locked_product(session, product_id, only_supplier_id)
    fields = {"name": edit.name, "unit": edit.unit, "sku": edit.sku, "pool": edit.pool}
    changes = {k: v for k, v in fields.items() if v is not None}
    if changes:
        try:
            async with session.begin_nested():
                await session.execute(sa.update(Product).where(col(Product.id) == product_id).values(**changes))
        except IntegrityError as exc:
            msg = f"supplier {product.supplier_id} already has a product with SKU {edit.sku}"
            raise ConflictError(msg) from exc
        await session.refresh(product)
    return ProductView(product, (await prices_of(session, [product_id]))[product_id])


async def retire_product(
    session: AsyncSession, product_id: int, *, now: datetime, only_supplier_id: int | None = None
) -> ProductView:
    """Retire a product (staff, or its supplier): no new group buy takes it; retiring twice changes nothing."""
    product = await _locked_product(session, product_id, only_supplier_id)
    if product.retired_at is None:
        product.retired_at = now
        session.add(product)
        await session.flush()
    return ProductView(product, (await prices_of(session, [product_id]))[product_id])


async def prices_of(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Prices]:
    """The current price version of each product, in two queries."""
    if not product_ids:
        return {}
    rows = (
        await session.execute(
            sa.select(
                col(ProductPriceVersion.product_id),
                col(ProductPriceVersion.id),
                col(ProductPriceVersion.version),
                col(ProductPriceVersion.markup_rate),
            )
            .join(
                Product,
                sa.and_(
                    col(Product.id) == col(ProductPriceVersion.product_id),
                    col(Product.price_version) == col(ProductPriceVersion.version),
                ),
            )
            .where(col(Product.id).in_(list(product_ids)))
        )
    ).all()
    tiers = await tiers_of(session, [r[1] for r in rows])
    return {r[0]: Prices(r[1], r[2], r[3], tiers.get(r[1], ())) for r in rows}


async def versions_by_id(session: AsyncSession, version_ids: Sequence[int]) -> dict[int, Prices]:
    """Price versions by id (frozen by closed group buys)."""
    if not version_ids:
        return {}
    rows = (
        await session.execute(
            sa.select(
                col(ProductPriceVersion.id), col(ProductPriceVersion.version), col(ProductPriceVersion.markup_rate)
            ).where(col(ProductPriceVersion.id).in_(list(version_ids)))
        )
    ).all()
    tiers = await tiers_of(session, [r[0] for r in rows])
    return {r[0]: Prices(r[0], r[1], r[2], tiers.get(r[0], ())) for r in rows}


async def tiers_of(session: AsyncSession, version_ids: Sequence[int]) -> dict[int, tuple[Tier, ...]]:
    """The tiers of each price version, lowest min_quantity first."""
    if not version_ids:
        return {}
    rows = (
        await session.execute(
            sa.select(
                col(ProductPriceTier.price_version_id),
                col(ProductPriceTier.min_quantity),
                col(ProductPriceTier.unit_price_cents),
            )
            .where(col(ProductPriceTier.price_version_id).in_(list(version_ids)))
            .order_by(col(ProductPriceTier.price_version_id), col(ProductPriceTier.min_quantity))
        )
    ).all()
    out: dict[int, list[Tier]] = defaultdict(list)
    for version_id, min_quantity, price in rows:
        out[version_id].append(Tier(min_quantity, price))
    return {k: tuple(v) for k, v in out.items()}


async def get_product(session: AsyncSession, product_id: int, *, only_supplier_id: int | None = None) -> ProductView:
    """The product with its current prices, or 404 (a supplier sees only its own)."""
    product = await session.get(Product, product_id)
    if product is None or (only_supplier_id is not None and product.supplier_id != only_supplier_id):
        raise NotFoundError(f"product {product_id} not found")
    return ProductView(product, (await prices_of(session, [product_id]))[product_id])


async def product_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    supplier_id: int | None = None,
    only_supplier_id: int | None = None,
    include_retired: bool = False,
) -> list[ProductView]:
    """Products in id order after a cursor, optionally of one supplier; a supplier sees only its own.

    Retired products are left out unless ``include_retired``.
    """
    query = select(Product).where(col(Product.id) > after_id).order_by(col(Product.id)).limit(limit)
    if not include_retired:
        query = query.where(col(Product.retired_at).is_(None))
    if supplier_id is not None:
        query = query.where(col(Product.supplier_id) == supplier_id)
    if only_supplier_id is not None:
        query = query.where(col(Product.supplier_id) == only_supplier_id)
    products = list((await session.exec(query)).all())
    prices = await prices_of(session, [p.id for p in products if p.id is not None])
    return [ProductView(p, prices[p.id]) for p in products if p.id is not None]


async def products_by_id(
    session: AsyncSession, product_ids: Sequence[int], *, lock: bool = False
) -> dict[int, Product]:
    """Products by id (missing ids are simply absent).

    ``lock`` takes them FOR SHARE in id order: a group buy taking products waits for a
    retirement in flight (FOR UPDATE) and sees it, and never deadlocks with another buy.
    """
    if not product_ids:
        return {}
    query = select(Product).where(col(Product.id).in_(sorted(set(product_ids)))).order_by(col(Product.id))
    if lock:
        query = query.with_for_update(read=True).execution_options(populate_existing=True)
    rows = (await session.exec(query)).all()
    return {p.id: p for p in rows if p.id is not None}
