"""Orders in a group buy: place, change (as time-stamped increments), cancel, and read them.

Every order write locks, always in this order: the member's row FOR SHARE (its standing
cannot change under the write), the group buy shared (see service.locked_group_buy), then
the order FOR UPDATE. A member leaving takes the same order (member, buy, order), so the
two never deadlock.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.buying.rules import (
    GroupBuyStatus,
    LineRequest,
    OrderStatus,
    OrderWrite,
    PaymentMode,
    check_order_transition,
    closed_line,
    deadline_refusal,
    max_order_total_cents,
    member_unit_price_cents,
    opening_unit_price_cents,
    order_line_errors,
    standing_refusal,
)
from domain.buying.rules._checks import is_int
from domain.buying.service import (
    GROUP_BUY_LOCKS,
    INT4,
    item_prices,
    locked_group_buy,
    member_audience,
    pinned_versions,
    visible_group_buy,
)
from domain.buying.tables import (
    TOTAL_SHARDS,
    BuyOrder,
    GroupBuy,
    GroupBuyItem,
    GroupBuyTotal,
    OrderIncrement,
    OrderLine,
)
from domain.catalog import service as catalog
from domain.db import driver_connection, holds_transaction, utc_now
from domain.errors import ConflictError, DomainError, FieldError, InvalidInputError, NotFoundError
from domain.membership.rules import Status
from domain.notifications import service as notifications
from domain.payments import card_holds
from domain.payments.rules import CardStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import asyncpg
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.payments.views import CardPaymentView


@dataclass(frozen=True, slots=True)
class LineView:
    """One order line as the member sees it; outcome fields are None until known."""

    product_id: int
    quantity: int
    flex_quantity: int
    allocated_quantity: int | None
    delivered_quantity: int | None
    unit_price_cents: int | None
    total_cents: int | None
    markup_rate: Decimal
    member_unit_price_cents: int


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order, its lines, the most it can cost, and its total once known."""

    order: BuyOrder
    lines: list[LineView]
    max_total_cents: int
    payment: CardPaymentView | None = None  # the newest card hold, in a card-mode buy

    @property
    def total_cents(self) -> int | None:
        """The sum of the line totals once every line has one (after close), else None."""
        if self.order.status in {OrderStatus.OPEN, OrderStatus.CANCELLED} or not self.lines:
            return None
        totals = [line.total_cents for line in self.lines]
        return None if any(t is None for t in totals) else sum(t for t in totals if t is not None)


NOT_OPEN = "group_buy_not_open"
DEADLINE_PASSED = "order_deadline_passed"
NOT_IN_GOOD_STANDING = "member_not_in_good_standing"


def _require_open(group_buy: GroupBuy | _LockedBuy, now: datetime) -> datetime:
    """Refuse unless the locked buy is open and its deadline not reached; the moment the write is taken.

    The clock is read again here, after the locks: a write that waited for them must not
    slip in past ``closes_at`` on the time it arrived with.
    """
    if group_buy.status != GroupBuyStatus.OPEN:
        msg = f"group buy {group_buy.id} is {group_buy.status}; orders change only while it is open"
        raise ConflictError(msg, code=NOT_OPEN)
    taken_at = max(now, utc_now())
    if reason := deadline_refusal(group_buy.closes_at, taken_at):
        raise ConflictError(f"group buy {group_buy.id}: {reason}", code=DEADLINE_PASSED)
    return taken_at


async def place_order(
    session: AsyncSession,
    group_buy_id: int,
    *,
    member_id: int,
    lines: Sequence[LineRequest],
    now: datetime,
    actor: int,
    autocommit: asyncpg.Pool | None = None,
) -> OrderView:
    """A member's one order in an open group buy; a second one is a 409 naming the first.

    One call of the SQL function coop_order_place (migration 0026): it locks as every order
    write does (the member FOR SHARE, its standing checked; the buy shared), checks the buy
    and the lines, and writes the order, its lines, increments and the buy's running totals.
    With `autocommit` (the app's pool for such calls) and no transaction in the session, the
    call runs on a connection of that pool and commits by itself.
    """
    requested = _requested(lines)
    args = (group_buy_id, member_id, _ALLOWED[OrderWrite.PLACE], GROUP_BUY_LOCKS, INT4, TOTAL_SHARDS, *requested)
    row = await _write(
        session,
        autocommit,
        _PLACE,
        (*args, now, actor),
        lines=lines,
        write=OrderWrite.PLACE,
        subject=member_id,
        needs_card=lambda row: member_id if row["o_order"] is None else None,
    )
    taken_at = row["o_taken_at"]
    order = BuyOrder.model_construct(  # as in change_order: the row as written, only read
        id=row["o_order"],
        group_buy_id=group_buy_id,
        member_id=member_id,
        status=OrderStatus.OPEN.value,
        placed_seq=row["o_placed_seq"],
        placed_by=actor,
        created_at=taken_at,
        updated_at=taken_at,
    )
    items = await _items(session, dict(zip(row["o_products"], row["o_versions"], strict=True)))
    return await _with_card_hold(session, row["o_payment_mode"], await _view(session, order, items, lines), taken_at)


_PLACE = "SELECT * FROM coop_order_place($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
_CHANGE = "SELECT * FROM coop_order_change($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"

# The statuses a member may be in for each write, from the rule itself (passed to the SQL functions).
_ALLOWED = {write: sorted(s.value for s in Status if standing_refusal(s, write) is None) for write in OrderWrite}


def _requested(lines: Sequence[LineRequest]) -> tuple[list[int], list[int], list[int]]:
    """The lines as the functions' three arrays (product ids bigint, amounts int).

    What the arrays cannot carry is refused here, naming the field: a product id past bigint
    (no buy offers one), an amount that is not an int or passes int (the API takes at most a
    million). Everything else the function checks.
    """
    errors = []
    for i, line in enumerate(lines):
        if not _fits(line.product_id, _INT8):
            errors.append(FieldError(f"lines[{i}].product_id", "the product is not offered in this group buy"))
        for name, value in (("quantity", line.quantity), ("flex_quantity", line.flex)):
            if not _fits(value, INT4):
                errors.append(FieldError(f"lines[{i}].{name}", f"must be a non-negative integer below {INT4}"))
    if errors:
        raise InvalidInputError("the order lines are not valid", errors)
    return [ln.product_id for ln in lines], [ln.quantity for ln in lines], [ln.flex for ln in lines]


_INT8 = 2**63


def _fits(value: object, bound: int) -> bool:
    return is_int(value) and -bound <= value < bound


async def _write(
    session: AsyncSession,
    autocommit: asyncpg.Pool | None,
    query: str,
    args: tuple[object, ...],
    *,
    lines: Sequence[LineRequest],
    write: OrderWrite,
    subject: int,
    needs_card: Callable[[asyncpg.Record], int | None],
) -> asyncpg.Record:
    """The order write's one call (its last argument: whether the member's saved card was checked).

    On a connection of the autocommit pool where the call would commit by itself anyway; in
    the session when there is no pool (the tests' apps: their rolled-back transaction is the
    session's) or the session holds a transaction (an Idempotency-Key's stored answer, a token
    looked up in this request, or rows waiting to be flushed must commit with the write).
    A card-mode buy writes nothing until the member's saved card is checked (`needs_card`
    names the member then): the check and the write again, in one transaction of the session.
    """
    if autocommit is not None and not holds_transaction(session):
        async with autocommit.acquire() as connection:
            row: asyncpg.Record = await _call(connection, query, (*args, False), lines, write, subject)
    else:
        connection = await driver_connection(session, begin=False)
        row = await _call(connection, query, (*args, False), lines, write, subject)
    card_member = needs_card(row)
    if card_member is None:
        return row
    connection = await driver_connection(session)
    await card_holds.require_card_customer(session, card_member)
    return await _call(connection, query, (*args, True), lines, write, subject)


async def _call(
    connection: asyncpg.Connection,
    query: str,
    args: tuple[object, ...],
    lines: Sequence[LineRequest],
    write: OrderWrite,
    subject: int,
) -> asyncpg.Record:
    """The function's one row, or its refusal raised as the DomainError the checks gave before they moved into SQL."""
    row: asyncpg.Record = await connection.fetchrow(query, *args)
    if (code := row["o_refusal"]) is not None:
        raise _refusal(code, json.loads(row["o_detail"] or "{}"), lines, write, subject)
    return row


def _refusal(  # noqa: PLR0911 - one answer per refusal the functions raise
    code: str, detail: dict[str, Any], lines: Sequence[LineRequest], write: OrderWrite, subject: int
) -> DomainError:
    """The DomainError for a refusal of coop_order_place (``subject``: the member) or _change (the order)."""
    if code == "order_not_found":
        return NotFoundError(f"order {subject} not found")
    if code == "member_not_found":
        return NotFoundError(f"member {subject} not found")
    if code == NOT_IN_GOOD_STANDING:
        if detail.get("order_status") == OrderStatus.CANCELLED:
            write = OrderWrite.REOPEN  # the same standing as a change; named for the refusal
        reason = standing_refusal(Status(detail["standing"]), write)
        return ConflictError(f"member {detail['member']}: {reason}", code=NOT_IN_GOOD_STANDING)
    if code == NOT_OPEN:
        msg = f"group buy {detail['group_buy']} is {detail['status']}; orders change only while it is open"
        return ConflictError(msg, code=NOT_OPEN)
    if code == DEADLINE_PASSED:
        closes_at = datetime.fromisoformat(detail["closes_at"]).astimezone(UTC)
        reason = deadline_refusal(closes_at, datetime.fromisoformat(detail["taken_at"]).astimezone(UTC))
        return ConflictError(f"group buy {detail['group_buy']}: {reason}", code=DEADLINE_PASSED)
    if code == "lines_invalid":
        errors = order_line_errors(lines, set(detail["offered"] or ()))
        return InvalidInputError("the order lines are not valid", errors)
    if code == "order_exists":
        msg = f"member {subject} already has order {detail['order_id']} in this group buy; change it instead"
        return ConflictError(msg)
    if code == "group_buy_not_found":
        return NotFoundError(f"group buy {detail['group_buy']} not found")
    msg = f"unknown refusal {code!r} from the order write"
    raise RuntimeError(msg)


async def _with_card_hold(session: AsyncSession, payment_mode: str, view: OrderView, now: datetime) -> OrderView:
    """In a card-mode buy, the order's hold follows its most: a new one when that changed (a job asks Stripe)."""
    if payment_mode != PaymentMode.CARD:
        return view
    order_id = view.order.id or 0
    live = await card_holds.live_hold(session, order_id)
    if live is not None and live.amount_cents == view.max_total_cents and live.status != CardStatus.AUTH_FAILED:
        return view  # the same most: the hold asked for still covers it
    hold = await card_holds.request_hold(
        session,
        order_id=order_id,
        group_buy_id=view.order.group_buy_id,
        member_id=view.order.member_id,
        amount_cents=view.max_total_cents,
        now=now,
    )
    return replace(view, payment=hold)


@dataclass(frozen=True, slots=True)
class _LockedBuy:
    """What an order write reads of the group buy it holds locked (shared)."""

    id: int
    status: str
    closes_at: datetime
    payment_mode: str


# The order's owner with the member's row locked FOR SHARE, then the buy's advisory lock
# (shared; see service.locked_group_buy) taken for the owner's buy: the CTE is read first,
# so the member's lock comes before the buy's, as every order write takes them.
_OWNER = """
WITH owner AS MATERIALIZED (
    SELECT o.group_buy_id, o.member_id, o.status, m.status AS standing
    FROM buy_order o JOIN member m ON m.id = o.member_id
    WHERE o.id = $1
    FOR SHARE OF m
)
SELECT group_buy_id, member_id, status, standing, pg_advisory_xact_lock_shared($2::int, (group_buy_id % $3)::int)
FROM owner
"""

# After the advisory lock (a statement of its own, so it reads what the lock's last holder
# committed): the buy FOR SHARE, its items' pinned price versions, and the order FOR UPDATE.
# Rows are locked in FROM order (the buy, then the order); under the shared advisory lock
# no writer holding the buy exclusively is in flight, so the two orders cannot cross.
_BUY_AND_ORDER = """
SELECT g.status, g.closes_at, g.payment_mode, o.status, o.placed_seq, o.placed_by, o.created_at,
       i.product_id, i.price_version_id
FROM group_buy g JOIN buy_order o ON o.id = $2 JOIN group_buy_item i ON i.group_buy_id = g.id
WHERE g.id = $1
FOR SHARE OF g FOR UPDATE OF o
"""


async def _locked_order(
    session: AsyncSession, order_id: int, only_member_id: int | None, write: OrderWrite
) -> tuple[_LockedBuy, BuyOrder, dict[int, int | None]]:
    """Lock the member (checking its standing), the group buy (shared), then the order FOR UPDATE.

    Two statements on the session's asyncpg connection. An order's buy and member never
    change, so reading them before the locks is safe.
    """
    connection = await driver_connection(session)
    owner = await connection.fetchrow(_OWNER, order_id, GROUP_BUY_LOCKS, INT4)
    if owner is None or (only_member_id is not None and owner[1] != only_member_id):
        raise NotFoundError(f"order {order_id} not found")
    group_buy_id, member_id, status, standing, _ = owner
    if write is OrderWrite.CHANGE and status == OrderStatus.CANCELLED:
        write = OrderWrite.REOPEN  # the same standing as a change; named for the refusal
    if reason := standing_refusal(Status(standing), write):
        raise ConflictError(f"member {member_id}: {reason}", code=NOT_IN_GOOD_STANDING)
    rows = await connection.fetch(_BUY_AND_ORDER, group_buy_id, order_id)
    if not rows:
        raise NotFoundError(f"group buy {group_buy_id} not found")
    first = rows[0]
    group_buy = _LockedBuy(group_buy_id, first[0], first[1], first[2])
    order = BuyOrder(
        id=order_id,
        group_buy_id=group_buy_id,
        member_id=member_id,
        status=first[3],
        placed_seq=first[4],
        placed_by=first[5],
        created_at=first[6],
    )
    return group_buy, order, {row[7]: row[8] for row in rows}


async def _order_for_update(session: AsyncSession, order_id: int) -> BuyOrder:
    """The order row locked FOR UPDATE, read fresh (not from the session's identity map)."""
    return (
        await session.exec(
            select(BuyOrder)
            .where(col(BuyOrder.id) == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()


async def change_order(
    session: AsyncSession,
    order_id: int,
    *,
    lines: Sequence[LineRequest],
    now: datetime,
    only_member_id: int | None = None,
    autocommit: asyncpg.Pool | None = None,
) -> OrderView:
    """Replace the order's lines while the buy is open (products left out go to zero).

    Each changed line records the change as increments: an increase joins the back of the
    queue, a decrease is taken from the newest units first. A cancelled order comes back.
    The answer is built from what the write holds: nothing is read back. `autocommit`: as in
    place_order.
    """
    requested = _requested(lines)
    allowed = (_ALLOWED[OrderWrite.CHANGE], _ALLOWED[OrderWrite.REOPEN])
    args = (order_id, only_member_id, *allowed, GROUP_BUY_LOCKS, INT4, TOTAL_SHARDS, *requested, now)
    row = await _write(
        session,
        autocommit,
        _CHANGE,
        args,
        lines=lines,
        write=OrderWrite.CHANGE,
        subject=order_id,
        needs_card=lambda row: int(row["o_member"]) if row["o_status"] is None else None,
    )
    taken_at = row["o_taken_at"]
    # The row as written, detached and only read: no validation or ORM state to build (2 % of a change's API CPU).
    order = BuyOrder.model_construct(
        id=order_id,
        group_buy_id=row["o_group_buy"],
        member_id=row["o_member"],
        status=row["o_status"],
        placed_seq=row["o_placed_seq"],
        placed_by=row["o_placed_by"],
        created_at=row["o_created_at"],
        updated_at=taken_at,
    )
    items = await _items(session, dict(zip(row["o_products"], row["o_versions"], strict=True)))
    return await _with_card_hold(session, row["o_payment_mode"], await _view(session, order, items, lines), taken_at)


async def cancel_order(
    session: AsyncSession, order_id: int, *, now: datetime, only_member_id: int | None = None
) -> OrderView:
    """Withdraw the order while the buy is open: its lines go; the order stays, cancelled."""
    group_buy, order, _ = await _locked_order(session, order_id, only_member_id, OrderWrite.CANCEL)
    now = _require_open(group_buy, now)
    if order.status != OrderStatus.CANCELLED:
        await withdraw(session, order, now)
    return await get_order(session, order_id)


async def withdraw(session: AsyncSession, order: BuyOrder, now: datetime) -> None:
    """Cancel a locked order: its lines and increments go; the order stays, cancelled."""
    check_order_transition(order.status, OrderStatus.CANCELLED, order_id=order.id)
    line_ids = sa.select(col(OrderLine.id)).where(col(OrderLine.order_id) == order.id)
    await session.execute(sa.delete(OrderIncrement).where(col(OrderIncrement.order_line_id).in_(line_ids)))
    gone = await session.execute(
        sa.delete(OrderLine)
        .where(col(OrderLine.order_id) == order.id)
        .returning(col(OrderLine.product_id), col(OrderLine.quantity), col(OrderLine.flex_quantity))
    )
    await add_to_totals(session, order.group_buy_id, {p: (-q, -f) for p, q, f in gone.all()})
    order.status = OrderStatus.CANCELLED.value
    order.updated_at = now
    await session.execute(
        sa.update(BuyOrder)
        .where(col(BuyOrder.id) == order.id)
        .values(status=order.status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await card_holds.void_holds(session, order.id or 0, now)


async def withdraw_with_notice(session: AsyncSession, order_id: int, *, now: datetime, reason: str, key: str) -> bool:
    """Lock the order and, if it is still open, withdraw it and tell its member why (outbox).

    False when the order was no longer open. The caller holds the buy's lock (shared).
    """
    order = await _order_for_update(session, order_id)
    if order.status != OrderStatus.OPEN:
        return False
    await withdraw(session, order, now)
    await notifications.record(
        session,
        event="order.cancelled",
        audience=member_audience(order.member_id),
        data={"group_buy_id": str(order.group_buy_id), "order_id": str(order_id), "reason": reason},
        business_key=f"order:{order_id}:{key}",
    )
    return True


async def cancel_orders_of_leaving_member(session: AsyncSession, member_id: int, *, now: datetime) -> list[int]:
    """A member leaves (expelled, or its withdrawal takes effect): its open orders in open buys go.

    The caller holds the member's row FOR UPDATE, so no order write of this member is in
    flight or can start. Orders in buys already closed stay: they were placed in good
    standing and the goods are bought. Each cancelled order's member is told (outbox).
    """
    candidates = (
        await session.exec(
            select(BuyOrder.id, BuyOrder.group_buy_id)
            .join(GroupBuy, col(GroupBuy.id) == col(BuyOrder.group_buy_id))
            .where(
                col(BuyOrder.member_id) == member_id,
                col(BuyOrder.status) == OrderStatus.OPEN.value,
                col(GroupBuy.status) == GroupBuyStatus.OPEN.value,
            )
            .order_by(col(BuyOrder.group_buy_id))
        )
    ).all()
    cancelled = []
    for order_id, group_buy_id in candidates:
        group_buy = await locked_group_buy(session, group_buy_id, share=True)
        if group_buy.status != GroupBuyStatus.OPEN:  # closed meanwhile: the order was allocated
            continue
        if await withdraw_with_notice(
            session, order_id or 0, now=now, reason="the member left the co-op", key="member_left"
        ):
            cancelled.append(order_id or 0)
    return cancelled


async def add_to_totals(session: AsyncSession, group_buy_id: int, deltas: dict[int, tuple[int, int]]) -> None:
    """Add each product's (firm, flex) change to the buy's running totals, in this connection's shard.

    ``quantity = quantity + delta`` in one upsert, never read-modify-write; rows are taken in
    product order, so two writers in one shard never deadlock.
    """
    rows = [
        {
            "group_buy_id": group_buy_id,
            "product_id": p,
            "shard": sa.func.pg_backend_pid() % TOTAL_SHARDS,
            "quantity": q,
            "flex_quantity": f,
        }
        for p, (q, f) in sorted(deltas.items())
        if q or f
    ]
    if not rows:
        return
    stmt = insert(GroupBuyTotal).values(rows)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["group_buy_id", "product_id", "shard"],
            set_={
                "quantity": col(GroupBuyTotal.quantity) + stmt.excluded.quantity,
                "flex_quantity": col(GroupBuyTotal.flex_quantity) + stmt.excluded.flex_quantity,
            },
        )
    )


@dataclass(frozen=True, slots=True)
class _Items:
    """The products a buy offers and the prices an order in it is shown."""

    prices: dict[int, catalog.Prices]


async def _items(session: AsyncSession, versions: dict[int, int | None]) -> _Items:
    """The buy's products with the prices of their pinned versions (``product -> version``, None: current)."""
    pinned = await pinned_versions(session, {v for v in versions.values() if v is not None})
    unpinned = await catalog.prices_of(session, sorted(p for p, v in versions.items() if v is None))
    return _Items({p: pinned[v] if v is not None else unpinned[p] for p, v in versions.items()})


# Pure, and asked per line of every order write with the few prices of the open buys (exact
# money in Fractions: 3-5 % of an order change's API CPU): each answer kept per process.
_max_total_cents = functools.lru_cache(maxsize=8192, typed=True)(max_order_total_cents)
_member_unit_price_cents = functools.lru_cache(maxsize=8192, typed=True)(member_unit_price_cents)


# tier_for checks the tiers on every call: 1.3 % of an order change's samples for five lines
# (issue 12, thirty-third part).
_opening_unit_price_cents = functools.lru_cache(maxsize=8192)(opening_unit_price_cents)


async def _view(session: AsyncSession, order: BuyOrder, items: _Items, lines: Sequence[LineRequest]) -> OrderView:
    """The open order as just written, from the request and the buy's prices (no read back).

    Rows of this order the session had loaded are let go, so a later read loads them afresh.
    """
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, OrderLine) and obj.order_id == order.id) or (
            isinstance(obj, BuyOrder) and obj.id == order.id
        ):
            session.expunge(obj)  # written behind the ORM's back: loaded afresh next time
    views = []
    max_total = 0
    for line in sorted(lines, key=lambda ln: ln.product_id):
        if line.quantity + line.flex == 0:
            continue
        price = items.prices[line.product_id]
        max_total += _max_total_cents(line.quantity + line.flex, price.tiers, price.markup_rate)
        first = _opening_unit_price_cents(price.tiers)
        views.append(
            LineView(
                line.product_id,
                line.quantity,
                line.flex,
                None,
                None,
                None,
                None,
                price.markup_rate,
                _member_unit_price_cents(first, price.markup_rate),
            )
        )
    return OrderView(order, views, max_total)


async def get_order(session: AsyncSession, order_id: int, *, only_member_id: int | None = None) -> OrderView:
    """The order (404 for another member's users)."""
    order = await session.get(BuyOrder, order_id, populate_existing=True)
    if order is None or (only_member_id is not None and order.member_id != only_member_id):
        raise NotFoundError(f"order {order_id} not found")
    return (await order_views(session, [order]))[0]


async def order_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    group_buy_id: int | None = None,
    only_member_id: int | None = None,
    status: OrderStatus | None = None,
) -> list[OrderView]:
    """Orders in id order after a cursor: of one group buy, of one member, in one status, or any of these."""
    query = (
        select(BuyOrder)
        .where(col(BuyOrder.id) > after_id)
        .order_by(col(BuyOrder.id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if status is not None:
        query = query.where(col(BuyOrder.status) == status.value)
    if group_buy_id is not None:
        query = query.where(col(BuyOrder.group_buy_id) == group_buy_id)
    if only_member_id is not None:
        query = query.where(col(BuyOrder.member_id) == only_member_id)
    return await order_views(session, list((await session.exec(query)).all()))


async def group_buy_orders(session: AsyncSession, group_buy_id: int, *, after_id: int, limit: int) -> list[OrderView]:
    """The orders of one group buy (staff)."""
    await visible_group_buy(session, group_buy_id, None)
    return await order_page(session, after_id=after_id, limit=limit, group_buy_id=group_buy_id)


def _line_view(order: BuyOrder, line: OrderLine, item: GroupBuyItem, price: catalog.Prices) -> LineView:
    """The line as its member sees it: after close, what the close left to the item comes from it.

    Before close the member unit price is the first (dearest) tier's with markup, as
    ``max_total_cents``; after it the tier price fixed at close with markup.
    """
    allocated, unit, total = line.allocated_quantity, line.unit_price_cents, line.total_cents
    if order.status in {OrderStatus.ALLOCATED, OrderStatus.SETTLED} and item.unit_price_cents is not None:
        allocated, unit, total = closed_line(
            line.quantity, (allocated, unit, total), item.unit_price_cents, _frozen_markup(item)
        )
    shown = unit if unit is not None else opening_unit_price_cents(price.tiers)
    return LineView(
        line.product_id,
        line.quantity,
        line.flex_quantity,
        allocated,
        line.delivered_quantity,
        unit,
        total,
        price.markup_rate,
        member_unit_price_cents(shown, price.markup_rate),
    )


def _frozen_markup(item: GroupBuyItem) -> Decimal:
    """The markup the close priced the item's lines with (none recorded: none)."""
    return item.markup_rate if item.markup_rate is not None else Decimal(0)


async def order_views(session: AsyncSession, orders: Sequence[BuyOrder]) -> list[OrderView]:
    """Views of several orders in a handful of queries."""
    ids = [o.id for o in orders if o.id is not None]
    if not ids:
        return []
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    for line in (
        await session.exec(
            select(OrderLine)
            .where(col(OrderLine.order_id).in_(ids))
            .order_by(col(OrderLine.product_id))
            .execution_options(populate_existing=True)
        )
    ).all():
        lines[line.order_id].append(line)
    items = (
        await session.exec(
            select(GroupBuyItem).where(col(GroupBuyItem.group_buy_id).in_(sorted({o.group_buy_id for o in orders})))
        )
    ).all()
    prices = await item_prices(session, items)
    by_product = {(i.group_buy_id, i.product_id): i for i in items}
    payments = await card_holds.payments_of(session, ids)
    views = []
    for order in orders:
        assert order.id is not None  # noqa: S101 - loaded rows
        max_total = 0
        for line in lines[order.id]:
            price = prices[order.group_buy_id, line.product_id]
            max_total += max_order_total_cents(line.quantity + line.flex_quantity, price.tiers, price.markup_rate)
        views.append(
            OrderView(
                order,
                [
                    _line_view(
                        order,
                        line,
                        by_product[order.group_buy_id, line.product_id],
                        prices[order.group_buy_id, line.product_id],
                    )
                    for line in lines[order.id]
                ],
                max_total,
                payments.get(order.id),
            )
        )
    return views
