"""Group buys: create them, read them with live progress (DOMAIN.md section 2).

Orders live in `orders.py`, closing and the purchase order in `closing.py`, delivery and
settlement in `settlement.py`, the clock (open, remind, close on time) in `clock.py`.

Locking, so that concurrent requests never lose an update or disagree with the totals:
- order changes lock the group buy row FOR SHARE (many at once), then their own order row
  FOR UPDATE, and check the buy is open under that lock;
- close, cancel and delivery lock the group buy row FOR UPDATE, which waits for every order
  change in flight and keeps new ones out until they commit; both sides take the buy's
  advisory lock first (fair queue), so a stream of order writes cannot starve a close;
- order writes also check `closes_at` against the clock read after their locks;
- live totals are running sums (group_buy_total) kept in the transaction of every write
  to order lines, as `quantity = quantity + delta` in the connection's shard, rows in product
  order; they always equal the sums of the stored order lines.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from domain.buying.rules import (
    AllocationPolicy,
    GroupBuyStatus,
    MinimumOutcome,
    NextTier,
    OfferedProduct,
    PaymentMode,
    group_buy_errors,
    initial_status,
    missing_units,
    product_progress,
    supplier_value_cents,
)
from domain.buying.tables import GroupBuy, GroupBuyItem, GroupBuyTotal, OrderLine
from domain.catalog import service as catalog
from domain.catalog.tables import Product, Supplier
from domain.db import driver_connection, holds_transaction
from domain.errors import FieldError, InvalidInputError, NotFoundError
from domain.notifications import service as notifications
from domain.payments import card_holds

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import asyncpg
    from sqlalchemy.engine import Engine
    from sqlmodel.ext.asyncio.session import AsyncSession


CLOSED = frozenset({GroupBuyStatus.ORDERED, GroupBuyStatus.DELIVERED, GroupBuyStatus.SETTLED})
CLOSING_SOON = timedelta(hours=24)
MEMBERS = "members"  # notification audience: every member
STAFF = "staff"  # notification audience: the co-op's staff


def member_audience(member_id: int) -> str:
    """Notifications for one member's users."""
    return f"member:{member_id}"


def supplier_audience(supplier_id: int) -> str:
    """Notifications for one supplier's users."""
    return f"supplier:{supplier_id}"


# --- views ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemView:
    """A product of a group buy: live progress while open, the final figures once closed."""

    product_id: int
    sku: str
    name: str
    unit: str
    case_size: int
    quantity: int
    flex_quantity: int
    cases: int
    missing_units: int
    unit_price_cents: int
    next_tier: NextTier | None
    bought_quantity: int | None
    delivered_quantity: int | None


@dataclass(frozen=True, slots=True)
class GroupBuyView:
    """A group buy and its items."""

    group_buy: GroupBuy
    items: list[ItemView]

    @property
    def supplier_value_cents(self) -> int:
        """The value at supplier prices: what closing now would order, or what was ordered."""
        if self.group_buy.supplier_value_cents is not None:
            return self.group_buy.supplier_value_cents
        return sum(supplier_value_cents(i.cases * i.case_size, i.unit_price_cents) for i in self.items)


# --- group buys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewGroupBuy:
    """A group buy as staff ask for it."""

    supplier_id: int
    title: str
    closes_at: datetime
    product_ids: tuple[int, ...]
    opens_at: datetime | None = None
    min_value_cents: int | None = None
    on_minimum_missed: MinimumOutcome = MinimumOutcome.CANCEL
    extend_hours: int = 24
    allocation_policy: AllocationPolicy = AllocationPolicy.PRO_RATA
    payment_mode: PaymentMode = PaymentMode.ACCOUNT


async def create_group_buy(
    session: AsyncSession, new: NewGroupBuy, *, now: datetime, actor: int, card_payments: bool = False
) -> GroupBuy:
    """Create a group buy for one supplier's products; open now unless it opens later.

    Card payments need the payment provider, so ``card`` is refused with a 400 unless
    Stripe is configured.
    """
    opens_at = new.opens_at or now
    products = await catalog.products_by_id(session, new.product_ids, lock=True)
    errors = group_buy_errors(
        supplier_id=new.supplier_id,
        product_ids=new.product_ids,
        products={pid: OfferedProduct(p.supplier_id, p.retired_at is not None) for pid, p in products.items()},
        opens_at=opens_at,
        closes_at=new.closes_at,
        now=now,
        payment_mode=new.payment_mode,
        card_payments=card_payments,
    )
    if await session.get(Supplier, new.supplier_id) is None:
        errors.insert(0, FieldError("supplier_id", f"no supplier {new.supplier_id}"))
    if errors:
        raise InvalidInputError("the group buy is not valid", errors)
    status = initial_status(opens_at, now)
    group_buy = GroupBuy(
        supplier_id=new.supplier_id,
        title=new.title,
        status=status.value,
        opens_at=opens_at,
        closes_at=new.closes_at,
        min_value_cents=new.min_value_cents,
        on_minimum_missed=new.on_minimum_missed.value,
        extend_hours=new.extend_hours,
        allocation_policy=new.allocation_policy.value,
        payment_mode=new.payment_mode.value,
        created_by=actor,
    )
    session.add(group_buy)
    await session.flush()
    assert group_buy.id is not None  # noqa: S101 - flushed
    session.add_all(
        GroupBuyItem(
            group_buy_id=group_buy.id,
            product_id=product_id,
            position=i,
            case_size=products[product_id].case_size,
            pool=products[product_id].pool,
        )
        for i, product_id in enumerate(new.product_ids)
    )
    await session.flush()
    if status is GroupBuyStatus.OPEN:
        await pin_prices(session, group_buy.id)
        await notify_opened(session, group_buy)
    return group_buy


async def pin_prices(session: AsyncSession, group_buy_id: int) -> None:
    """Fix the buy's prices as it opens: each item keeps the price version in force now.

    A supplier's later change applies to later buys; only a lower one is offered to this
    buy (buying.pricing). Items already pinned keep theirs.
    """
    unpinned = (
        await session.exec(
            select(GroupBuyItem.product_id).where(
                col(GroupBuyItem.group_buy_id) == group_buy_id, col(GroupBuyItem.price_version_id).is_(None)
            )
        )
    ).all()
    current = await catalog.prices_of(session, sorted(unpinned))
    if current:  # ORM bulk UPDATE by primary key: one executemany
        await session.execute(
            sa.update(GroupBuyItem),
            [
                {
                    "group_buy_id": group_buy_id,
                    "product_id": product_id,
                    "price_version_id": prices.version_id,
                    "markup_rate": prices.markup_rate,
                }
                for product_id, prices in current.items()
            ],
        )


# Price versions are append-only (never edited; the catalog writes a new one per change), so a
# version read once is kept for the life of the process; a buy's items say which one applies.
# Ids are only unique within one database, so the copy is keyed by the database too: a process
# may speak to several (the tests' scratch databases restart their ids at 1).
_VERSIONS: dict[tuple[str, int], catalog.Prices] = {}
_VERSIONS_KEPT = 10_000


# Rendering an engine's URL took 4 % of an API process's samples in a group buy read run: once per engine.
_DATABASES: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _database_of(session: AsyncSession) -> str:
    engine = session.sync_session.get_bind().engine
    if (database := _DATABASES.get(engine)) is None:
        database = _DATABASES[engine] = str(engine.url)
    return database


async def pinned_versions(session: AsyncSession, version_ids: Iterable[int]) -> dict[int, catalog.Prices]:
    """Price versions by id, from the process's copy when already read."""
    database = _database_of(session)
    wanted = set(version_ids)
    missing = sorted(v for v in wanted if (database, v) not in _VERSIONS)
    if missing:
        if len(_VERSIONS) + len(missing) > _VERSIONS_KEPT:
            _VERSIONS.clear()
        read = await catalog.versions_by_id(session, missing)
        _VERSIONS.update({(database, v): prices for v, prices in read.items()})
    return {v: _VERSIONS[database, v] for v in wanted if (database, v) in _VERSIONS}


async def item_prices(session: AsyncSession, items: Iterable[_Item]) -> dict[tuple[int, int], catalog.Prices]:
    """Prices per (group buy, product): the version pinned at open, else (not open yet) the current one."""
    items = list(items)
    pinned = await pinned_versions(session, {i.price_version_id for i in items if i.price_version_id})
    current = await catalog.prices_of(session, sorted({i.product_id for i in items if not i.price_version_id}))
    return {
        (i.group_buy_id, i.product_id): pinned[i.price_version_id] if i.price_version_id else current[i.product_id]
        for i in items
    }


async def notify_opened(session: AsyncSession, group_buy: GroupBuy) -> None:
    """Tell members a buy is open for orders (once per buy)."""
    await notifications.record(
        session,
        event="group_buy.opened",
        audience=MEMBERS,
        data={
            "group_buy_id": str(group_buy.id),
            "title": group_buy.title,
            "closes_at": group_buy.closes_at.isoformat(),
        },
        business_key=f"group_buy:{group_buy.id}:opened",
    )


async def visible_group_buy(session: AsyncSession, group_buy_id: int, only_supplier_id: int | None) -> GroupBuy:
    """The group buy, or 404 (also for another supplier's users)."""
    group_buy = await session.get(GroupBuy, group_buy_id)
    if group_buy is None or (only_supplier_id is not None and group_buy.supplier_id != only_supplier_id):
        raise NotFoundError(f"group buy {group_buy_id} not found")
    return group_buy


# Namespace of the group buys' advisory locks (the two-int form; see locked_group_buy).
GROUP_BUY_LOCKS = 0x4742_5559  # "GBUY"
INT4 = 2**31


async def locked_group_buy(session: AsyncSession, group_buy_id: int, *, share: bool = False) -> GroupBuy:
    """The group buy's row locked FOR SHARE (order writes) or FOR UPDATE (state changes).

    Row locks alone let a stream of order writes starve a close: a new FOR SHARE joins the
    shares already held and never waits for the FOR UPDATE queued behind them (a staff
    close once waited 48 s). So every locker first takes the buy's advisory lock, shared
    or exclusive, in PostgreSQL's lock manager, whose queue is fair: once a close asks for
    it, later order writes queue behind the close, which waits only for the writes already
    in flight. Ids past int4 wrap; two buys sharing a lock only wait for each other.
    """
    await _advisory_lock(session, group_buy_id, share=share)
    query = (
        select(GroupBuy)
        .where(col(GroupBuy.id) == group_buy_id)
        .with_for_update(read=share)
        .execution_options(populate_existing=True)  # the row as locked, not as cached
    )
    group_buy = (await session.exec(query)).one_or_none()
    if group_buy is None:
        raise NotFoundError(f"group buy {group_buy_id} not found")
    return group_buy


async def _advisory_lock(session: AsyncSession, group_buy_id: int, *, share: bool) -> None:
    take = sa.func.pg_advisory_xact_lock_shared if share else sa.func.pg_advisory_xact_lock
    await session.execute(sa.select(take(GROUP_BUY_LOCKS, group_buy_id % INT4)))


def _columns(model: type[SQLModel], alias: str) -> tuple[list[str], str]:
    names = [c.name for c in model.__table__.columns]  # type: ignore[attr-defined]
    return names, ", ".join(f"{alias}.{n}" for n in names)


_BUY_COLUMNS, _BUY_SQL = _columns(GroupBuy, "g")


class _Item(Protocol):
    """What a view reads of a group buy's item (a GroupBuyItem, or a row of the one-buy read)."""

    @property
    def group_buy_id(self) -> int: ...
    @property
    def product_id(self) -> int: ...
    @property
    def case_size(self) -> int: ...
    @property
    def price_version_id(self) -> int | None: ...
    @property
    def bought_quantity(self) -> int | None: ...
    @property
    def quantity(self) -> int | None: ...
    @property
    def flex_quantity(self) -> int | None: ...
    @property
    def cases(self) -> int | None: ...
    @property
    def unit_price_cents(self) -> int | None: ...
    @property
    def delivered_quantity(self) -> int | None: ...


class _Product(Protocol):
    """What a view reads of an item's product."""

    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _ItemRow:
    """An item with its product, as the one-buy read returns it.

    Building table models per row took 13 % of an API process's samples in a group buy read run.
    """

    group_buy_id: int
    product_id: int
    case_size: int
    price_version_id: int | None
    bought_quantity: int | None
    quantity: int | None
    flex_quantity: int | None
    cases: int | None
    unit_price_cents: int | None
    delivered_quantity: int | None
    sku: str
    name: str
    unit: str


_ITEM_ROW_SQL = ", ".join(
    f"p.{name}" if name in {"sku", "name", "unit"} else f"i.{name}" for name in _ItemRow.__dataclass_fields__
)

# The buy, its items and products, and each item's running totals (the sum of its shards).
_GROUP_BUY_READ = f"""
SELECT {_BUY_SQL}, {_ITEM_ROW_SQL}, s.quantity, s.flex_quantity
FROM group_buy g
JOIN group_buy_item i ON i.group_buy_id = g.id
JOIN product p ON p.id = i.product_id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(t.quantity), 0) AS quantity, coalesce(sum(t.flex_quantity), 0) AS flex_quantity
    FROM group_buy_total t
    WHERE t.group_buy_id = i.group_buy_id AND t.product_id = i.product_id
) AS s
WHERE g.id = $1
ORDER BY i.position
"""  # noqa: S608 - column names from the table models, the id a parameter


async def get_group_buy(
    session: AsyncSession,
    group_buy_id: int,
    *,
    only_supplier_id: int | None = None,
    autocommit: asyncpg.Pool | None = None,
    _begun: bool = False,
) -> GroupBuyView:
    """The group buy with its items (404 for a supplier's users asking about another supplier's).

    One statement reads the buy, its items and products, and each item's running totals (the
    sum of its shards); price versions come from the process's copy. Alone it needs no
    transaction of its own, so with `autocommit` (the app's pool for statements that commit
    by themselves) and no transaction in the session it runs there: the session is never
    given a connection (checking one out and closing the session were about a tenth of the
    read's API CPU, issue 12, twenty-eighth part). Otherwise on the session's connection. Only
    a card-mode buy looks further (at the lines of orders whose card said no), in one
    transaction of the session with it.
    """
    if autocommit is not None and not _begun and not holds_transaction(session):
        async with autocommit.acquire() as pooled:
            rows = await pooled.fetch(_GROUP_BUY_READ, group_buy_id)
        in_transaction = False
    else:
        connection = await driver_connection(session, begin=_begun)
        rows = await connection.fetch(_GROUP_BUY_READ, group_buy_id)
        in_transaction = connection.is_in_transaction()
    if not rows:
        group_buy = await visible_group_buy(session, group_buy_id, only_supplier_id)
        return (await group_buy_views(session, [group_buy]))[0]
    n_buy = len(_BUY_COLUMNS)
    first = rows[0]
    # Built without validation or ORM state (a detached row only read): 186 us a read through __init__, 16 here.
    group_buy = GroupBuy.model_construct(**dict(zip(_BUY_COLUMNS, first[:n_buy], strict=True)))
    if only_supplier_id is not None and group_buy.supplier_id != only_supplier_id:
        raise NotFoundError(f"group buy {group_buy_id} not found")
    if group_buy.payment_mode == PaymentMode.CARD and not in_transaction:
        return await get_group_buy(session, group_buy_id, only_supplier_id=only_supplier_id, _begun=True)
    pairs = [(item, item) for item in (_ItemRow(*row[n_buy:-2]) for row in rows)]
    totals = {
        (group_buy_id, item.product_id): (int(row[-2]), int(row[-1]))
        for (item, _), row in zip(pairs, rows, strict=True)
    }
    if group_buy.payment_mode == PaymentMode.CARD:
        for key, (q, f) in (await _failed_card_lines(session, [group_buy_id])).items():
            total_q, total_f = totals[key]
            totals[key] = (total_q - q, total_f - f)
    return (await _views(session, [group_buy], {group_buy_id: pairs}, totals))[0]


async def group_buy_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    status: GroupBuyStatus | None = None,
    only_supplier_id: int | None = None,
) -> list[GroupBuyView]:
    """Group buys in id order after a cursor, optionally in one status; a supplier sees only its own."""
    query = select(GroupBuy).where(col(GroupBuy.id) > after_id).order_by(col(GroupBuy.id)).limit(limit)
    if status is not None:
        query = query.where(col(GroupBuy.status) == status.value)
    if only_supplier_id is not None:
        query = query.where(col(GroupBuy.supplier_id) == only_supplier_id)
    return await group_buy_views(session, list((await session.exec(query)).all()))


async def items_of(
    session: AsyncSession, group_buy_ids: Sequence[int]
) -> dict[int, list[tuple[GroupBuyItem, Product]]]:
    """Each group buy's items with their products."""
    rows = (
        await session.exec(
            select(GroupBuyItem, Product)
            .join(Product, col(Product.id) == col(GroupBuyItem.product_id))
            .where(col(GroupBuyItem.group_buy_id).in_(list(group_buy_ids)))
            .order_by(col(GroupBuyItem.group_buy_id), col(GroupBuyItem.position))
        )
    ).all()
    out: dict[int, list[tuple[GroupBuyItem, Product]]] = defaultdict(list)
    for item, product in rows:
        out[item.group_buy_id].append((item, product))
    return out


async def _live_totals(session: AsyncSession, group_buys: Sequence[GroupBuy]) -> dict[tuple[int, int], tuple[int, int]]:
    """Q and F per (group buy, product): the running totals, less the lines of orders whose card said no.

    The totals are kept by every order write (orders.add_to_totals); only card-mode buys
    look at the card holds, and only at the failed ones.
    """
    ids = [g.id for g in group_buys if g.id is not None]
    if not ids:
        return {}
    rows = (
        await session.execute(
            sa.select(
                col(GroupBuyTotal.group_buy_id),
                col(GroupBuyTotal.product_id),
                sa.func.sum(col(GroupBuyTotal.quantity)),
                sa.func.sum(col(GroupBuyTotal.flex_quantity)),
            )
            .where(col(GroupBuyTotal.group_buy_id).in_(ids))
            .group_by(col(GroupBuyTotal.group_buy_id), col(GroupBuyTotal.product_id))
        )
    ).all()
    totals = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}
    card_ids = [g.id for g in group_buys if g.id is not None and g.payment_mode == PaymentMode.CARD]
    for key, (q, f) in (await _failed_card_lines(session, card_ids)).items():
        total_q, total_f = totals[key]
        totals[key] = (total_q - q, total_f - f)
    return totals


async def _failed_card_lines(
    session: AsyncSession, group_buy_ids: Sequence[int]
) -> dict[tuple[int, int], tuple[int, int]]:
    """Q and F per (group buy, product) of the orders whose card said no: they do not count."""
    if not group_buy_ids:
        return {}
    failed = (
        await session.execute(
            sa.select(
                col(OrderLine.group_buy_id),
                col(OrderLine.product_id),
                sa.func.sum(col(OrderLine.quantity)),
                sa.func.sum(col(OrderLine.flex_quantity)),
            )
            .where(
                col(OrderLine.group_buy_id).in_(list(group_buy_ids)),
                ~card_holds.not_failed(col(OrderLine.order_id)),
            )
            .group_by(col(OrderLine.group_buy_id), col(OrderLine.product_id))
        )
    ).all()
    return {(gid, pid): (int(q), int(f)) for gid, pid, q, f in failed}


async def group_buy_views(session: AsyncSession, group_buys: Sequence[GroupBuy]) -> list[GroupBuyView]:
    """Views of several group buys in a handful of queries."""
    ids = [g.id for g in group_buys if g.id is not None]
    items = await items_of(session, ids)
    live = [g for g in group_buys if g.id is not None and any(i.bought_quantity is None for i, _ in items[g.id])]
    return await _views(session, group_buys, items, await _live_totals(session, live))


async def _views(
    session: AsyncSession,
    group_buys: Sequence[GroupBuy],
    items: dict[int, list[tuple[GroupBuyItem, Product]]] | dict[int, list[tuple[_ItemRow, _ItemRow]]],
    totals: dict[tuple[int, int], tuple[int, int]],
) -> list[GroupBuyView]:
    prices = await item_prices(
        session, [i for g in group_buys for i, _ in items[g.id or 0] if i.bought_quantity is None]
    )
    views = []
    for group_buy in group_buys:
        assert group_buy.id is not None  # noqa: S101 - loaded rows
        out = []
        for item, product in items[group_buy.id]:
            if item.bought_quantity is None:
                q, f = totals.get((group_buy.id, item.product_id), (0, 0))
                progress = product_progress(q, f, item.case_size, prices[group_buy.id, item.product_id].tiers)
                out.append(
                    ItemView(
                        item.product_id,
                        product.sku,
                        product.name,
                        product.unit,
                        item.case_size,
                        progress.quantity,
                        progress.flex_quantity,
                        progress.cases,
                        progress.missing_units,
                        progress.unit_price_cents,
                        progress.next_tier,
                        None,
                        None,
                    )
                )
            else:
                out.append(_frozen_item(item, product))
        views.append(GroupBuyView(group_buy, out))
    return views


def _frozen_item(item: _Item, product: _Product) -> ItemView:
    q, f = item.quantity or 0, item.flex_quantity or 0
    return ItemView(
        item.product_id,
        product.sku,
        product.name,
        product.unit,
        item.case_size,
        q,
        f,
        item.cases or 0,
        missing_units(q, f, item.case_size),
        item.unit_price_cents or 0,
        None,
        item.bought_quantity,
        item.delivered_quantity,
    )
