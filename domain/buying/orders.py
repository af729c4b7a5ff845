"""Orders in a group buy: place, change (as time-stamped increments), cancel, and read them.

Every order write locks, always in this order: the member's row FOR SHARE (its standing
cannot change under the write), the group buy shared (see service.locked_group_buy), then
the order FOR UPDATE. A member leaving takes the same order (member, buy, order), so the
two never deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.buying.rules import (
    GroupBuyStatus,
    Increment,
    LineRequest,
    OrderStatus,
    OrderWrite,
    PaymentMode,
    apply_change,
    check_order_transition,
    deadline_refusal,
    increment_writes,
    max_order_total_cents,
    member_unit_price_cents,
    order_line_errors,
    standing_refusal,
)
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
from domain.catalog.rules import tier_for
from domain.db import driver_connection, utc_now
from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.membership.rules import Status
from domain.notifications import service as notifications
from domain.payments import card_holds
from domain.payments.rules import CardStatus

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from decimal import Decimal

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


# The member's row FOR SHARE, then the buy's shared advisory lock (after it: the CTE is read first).
_MEMBER_AND_BUY_LOCK = """
WITH m AS MATERIALIZED (SELECT status FROM member WHERE id = $1 FOR SHARE)
SELECT status, pg_advisory_xact_lock_shared($3::int, ($2::bigint % $4::bigint)::int) FROM m
"""

# After the advisory lock: the buy FOR SHARE with its items' pinned price versions.
_BUY = """
SELECT g.status, g.closes_at, g.payment_mode, i.product_id, i.price_version_id
FROM group_buy g JOIN group_buy_item i ON i.group_buy_id = g.id
WHERE g.id = $1
FOR SHARE OF g
"""

_PLACE = """
INSERT INTO buy_order (group_buy_id, member_id, status, placed_seq, placed_by, created_at, updated_at)
VALUES ($1, $2, 'open', nextval('order_change_seq'), $3, $4, $4)
ON CONFLICT ON CONSTRAINT uq_buy_order_group_buy_member DO NOTHING
RETURNING id, placed_seq
"""


async def place_order(
    session: AsyncSession,
    group_buy_id: int,
    *,
    member_id: int,
    lines: Sequence[LineRequest],
    now: datetime,
    actor: int,
) -> OrderView:
    """A member's one order in an open group buy; a second one is a 409 naming the first.

    Locks as every order write does: the member FOR SHARE (its standing checked), the buy
    shared; on the session's asyncpg connection, like the change.
    """
    connection = await driver_connection(session)
    standing = await connection.fetchrow(_MEMBER_AND_BUY_LOCK, member_id, group_buy_id, GROUP_BUY_LOCKS, INT4)
    if standing is None:
        raise NotFoundError(f"member {member_id} not found")
    if reason := standing_refusal(Status(standing[0]), OrderWrite.PLACE):
        raise ConflictError(f"member {member_id}: {reason}", code=NOT_IN_GOOD_STANDING)
    rows = await connection.fetch(_BUY, group_buy_id)
    if not rows:
        raise NotFoundError(f"group buy {group_buy_id} not found")
    group_buy = _LockedBuy(group_buy_id, rows[0][0], rows[0][1], rows[0][2])
    now = _require_open(group_buy, now)
    items = await _items(session, {row[3]: row[4] for row in rows})
    _check_lines(items, lines)
    if group_buy.payment_mode == PaymentMode.CARD:
        await card_holds.require_card_customer(session, member_id)
    placed = await connection.fetchrow(_PLACE, group_buy_id, member_id, actor, now)
    if placed is None:
        existing = (
            await session.exec(
                select(BuyOrder.id).where(
                    col(BuyOrder.group_buy_id) == group_buy_id, col(BuyOrder.member_id) == member_id
                )
            )
        ).one()
        raise ConflictError(f"member {member_id} already has order {existing} in this group buy; change it instead")
    order_id, placed_seq = placed
    order = BuyOrder(
        id=order_id,
        group_buy_id=group_buy_id,
        member_id=member_id,
        status=OrderStatus.OPEN.value,
        placed_seq=placed_seq,
        placed_by=actor,
        created_at=now,
        updated_at=now,
    )
    await _write_lines(session, order, {}, lines, placed_seq, now)
    return await _with_card_hold(session, group_buy, await _view(session, order, items, lines), now)


async def _with_card_hold(
    session: AsyncSession, group_buy: GroupBuy | _LockedBuy, view: OrderView, now: datetime
) -> OrderView:
    """In a card-mode buy, the order's hold follows its most: a new one when that changed (a job asks Stripe)."""
    if group_buy.payment_mode != PaymentMode.CARD:
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
) -> OrderView:
    """Replace the order's lines while the buy is open (products left out go to zero).

    Each changed line records the change as increments: an increase joins the back of the
    queue, a decrease is taken from the newest units first. A cancelled order comes back.
    The answer is built from what the write holds: nothing is read back.
    """
    group_buy, order, versions = await _locked_order(session, order_id, only_member_id, OrderWrite.CHANGE)
    now = _require_open(group_buy, now)
    items = await _items(session, versions)
    _check_lines(items, lines)
    if group_buy.payment_mode == PaymentMode.CARD:
        await card_holds.require_card_customer(session, order.member_id)
    seq, stored = await _stored_lines(session, order_id)
    if order.status == OrderStatus.CANCELLED:
        check_order_transition(order.status, OrderStatus.OPEN, order_id=order.id)
        order.status = OrderStatus.OPEN.value
        order.placed_seq = seq
    order.updated_at = now
    await _write_lines(session, order, stored, lines, seq, now)
    return await _with_card_hold(session, group_buy, await _view(session, order, items, lines), now)


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
class _StoredLine:
    """An order line as stored, with its increments (oldest first) and their row ids by at_seq."""

    line_id: int
    quantity: int
    flex: int
    increments: tuple[Increment, ...]
    increment_ids: dict[int, int]


# The next change number and the order's lines with their increments, in one round trip,
# read after the order's row lock (a statement of its own, so it sees the last writer's lines).
_STORED_LINES = """
WITH s AS MATERIALIZED (SELECT nextval('order_change_seq') AS seq)
SELECT s.seq, l.id, l.product_id, l.quantity, l.flex_quantity, i.id, i.at_seq, i.quantity, i.flex_quantity
FROM s LEFT JOIN (order_line l JOIN order_increment i ON i.order_line_id = l.id) ON l.order_id = $1
ORDER BY l.product_id, i.at_seq
"""


async def _stored_lines(session: AsyncSession, order_id: int) -> tuple[int, dict[int, _StoredLine]]:
    """The change's seq and the order's stored lines by product (the caller holds the order's lock)."""
    rows = await (await driver_connection(session)).fetch(_STORED_LINES, order_id)
    lines: dict[int, tuple[int, int, int]] = {}
    increments: dict[int, list[tuple[int, Increment]]] = defaultdict(list)
    for _, line_id, product_id, quantity, flex, increment_id, at_seq, inc_quantity, inc_flex in rows:
        if line_id is not None:
            lines[product_id] = (line_id, quantity, flex)
            increments[product_id].append((increment_id, Increment(at_seq, inc_quantity, inc_flex)))
    stored = {
        product_id: _StoredLine(
            line_id,
            quantity,
            flex,
            tuple(inc for _, inc in increments[product_id]),
            {inc.at_seq: increment_id for increment_id, inc in increments[product_id]},
        )
        for product_id, (line_id, quantity, flex) in lines.items()
    }
    return int(rows[0][0]), stored


# The array parameters of _WRITE_LINES, in the order of its placeholders $1..$17.
_WRITE_ARRAYS = (
    "drop_increments", "shrink_ids", "shrink_q", "shrink_f", "drop_lines", "line_ids", "line_q", "line_f",
    "new_products", "new_q", "new_f", "grow_lines", "grow_q", "grow_f", "total_products", "total_q", "total_f",
)  # fmt: skip

# Every write of an order change in one statement (data-modifying CTEs, one snapshot): the
# increments dropped and shrunk, the lines emptied, changed and added, the new increments,
# the running totals (quantity = quantity + delta, products in order) and the order row.
# Empty arrays make a part a no-op, so the statement text never varies (prepared once).
# $1-$17 are _WRITE_ARRAYS; then the order, its buy, the shards, seq, now, status, placed_seq.
_WRITE_LINES = """
WITH dropped_increments AS (
    DELETE FROM order_increment WHERE id = ANY($1::bigint[])
), shrunk_increments AS (
    UPDATE order_increment AS i SET quantity = c.quantity, flex_quantity = c.flex
    FROM unnest($2::bigint[], $3::int[], $4::int[]) AS c(id, quantity, flex)
    WHERE i.id = c.id
), dropped_lines AS (
    DELETE FROM order_line WHERE id = ANY($5::bigint[])
), changed_lines AS (
    UPDATE order_line AS l SET quantity = c.quantity, flex_quantity = c.flex
    FROM unnest($6::bigint[], $7::int[], $8::int[]) AS c(id, quantity, flex)
    WHERE l.id = c.id
), new_lines AS (
    INSERT INTO order_line (order_id, group_buy_id, product_id, quantity, flex_quantity)
    SELECT $18, $19, c.product_id, c.quantity, c.flex
    FROM unnest($9::bigint[], $10::int[], $11::int[]) AS c(product_id, quantity, flex)
    RETURNING id, quantity, flex_quantity
), new_increments AS (
    INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
    SELECT c.line_id, $21, c.quantity, c.flex, $22
    FROM (
        SELECT * FROM unnest($12::bigint[], $13::int[], $14::int[]) AS g(line_id, quantity, flex)
        UNION ALL
        SELECT id, quantity, flex_quantity FROM new_lines
    ) AS c
), totals AS (
    INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
    SELECT $19, c.product_id, pg_backend_pid() % $20::int, c.quantity, c.flex
    FROM unnest($15::bigint[], $16::bigint[], $17::bigint[]) AS c(product_id, quantity, flex)
    ORDER BY c.product_id
    ON CONFLICT (group_buy_id, product_id, shard) DO UPDATE
    SET quantity = group_buy_total.quantity + excluded.quantity,
        flex_quantity = group_buy_total.flex_quantity + excluded.flex_quantity
)
UPDATE buy_order SET status = $23, placed_seq = $24, updated_at = $22 WHERE id = $18
"""


async def _write_lines(
    session: AsyncSession,
    order: BuyOrder,
    stored: dict[int, _StoredLine],
    lines: Sequence[LineRequest],
    seq: int,
    now: datetime,
) -> None:
    """Bring the stored lines and increments to ``lines`` (rules.apply_change), and the order row, in one statement.

    Only what changes is written: increments a decrease empties or shrinks, the new one at
    ``seq``; untouched lines and increments stay as they are. The caller holds the order's
    row lock, so nothing else writes these lines meanwhile.
    """
    wanted = {line.product_id: line for line in lines}
    params: dict[str, list[int]] = {key: [] for key in _WRITE_ARRAYS}
    for product_id in sorted(set(stored) | set(wanted)):
        request = wanted.get(product_id, LineRequest(product_id, 0, 0))
        line = stored.get(product_id)
        old_q, old_f = (line.quantity, line.flex) if line is not None else (0, 0)
        if (old_q, old_f) == (request.quantity, request.flex):
            continue
        _append(params, total_products=product_id, total_q=request.quantity - old_q, total_f=request.flex - old_f)
        if line is None:
            _append(params, new_products=product_id, new_q=request.quantity, new_f=request.flex)
            continue
        writes = increment_writes(line.increments, apply_change(line.increments, request.quantity, request.flex, seq))
        for at_seq in writes.dropped:
            _append(params, drop_increments=line.increment_ids[at_seq])
        for inc in writes.shrunk:
            _append(params, shrink_ids=line.increment_ids[inc.at_seq], shrink_q=inc.quantity, shrink_f=inc.flex)
        if writes.added is not None:
            _append(params, grow_lines=line.line_id, grow_q=writes.added.quantity, grow_f=writes.added.flex)
        if request.quantity + request.flex == 0:
            _append(params, drop_lines=line.line_id)
        else:
            _append(params, line_ids=line.line_id, line_q=request.quantity, line_f=request.flex)
    await (await driver_connection(session)).execute(
        _WRITE_LINES,
        *(params[key] for key in _WRITE_ARRAYS),
        order.id or 0,
        order.group_buy_id,
        TOTAL_SHARDS,
        seq,
        now,
        order.status,
        order.placed_seq,
    )


def _append(params: dict[str, list[int]], **values: int) -> None:
    for key, value in values.items():
        params[key].append(value)


@dataclass(frozen=True, slots=True)
class _Items:
    """The products a buy offers and the prices an order in it is shown."""

    prices: dict[int, catalog.Prices]


async def _items(session: AsyncSession, versions: dict[int, int | None]) -> _Items:
    """The buy's products with the prices of their pinned versions (``product -> version``, None: current)."""
    pinned = await pinned_versions(session, {v for v in versions.values() if v is not None})
    unpinned = await catalog.prices_of(session, sorted(p for p, v in versions.items() if v is None))
    return _Items({p: pinned[v] if v is not None else unpinned[p] for p, v in versions.items()})


def _check_lines(items: _Items, lines: Sequence[LineRequest]) -> None:
    if errors := order_line_errors(lines, items.prices.keys()):
        raise InvalidInputError("the order lines are not valid", errors)


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
        max_total += max_order_total_cents(line.quantity + line.flex, price.tiers, price.markup_rate)
        first = tier_for(price.tiers, 0).unit_price_cents
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
                member_unit_price_cents(first, price.markup_rate),
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


def _member_unit_price(line: OrderLine, price: catalog.Prices) -> int:
    """The tier price fixed at close with markup; before close the first (dearest) tier's, as ``max_total_cents``."""
    unit = line.unit_price_cents if line.unit_price_cents is not None else tier_for(price.tiers, 0).unit_price_cents
    return member_unit_price_cents(unit, price.markup_rate)


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
                    LineView(
                        line.product_id,
                        line.quantity,
                        line.flex_quantity,
                        line.allocated_quantity,
                        line.delivered_quantity,
                        line.unit_price_cents,
                        line.total_cents,
                        prices[order.group_buy_id, line.product_id].markup_rate,
                        _member_unit_price(line, prices[order.group_buy_id, line.product_id]),
                    )
                    for line in lines[order.id]
                ],
                max_total,
                payments.get(order.id),
            )
        )
    return views
