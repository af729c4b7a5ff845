"""Group buy throughput: concurrent order placement, then close and settlement of one big buy.

Run with the project's interpreter:

    .venv/bin/python -m bench.group_buy_close [--members 2000] [--products 5] [--workers 8]
    .venv/bin/python -m bench.group_buy_close --members 10000 --products 50 --seed-sql   # issue 12's scale

It starts its own embedded PostgreSQL (or uses DATABASE_URL), applies the migrations, and:

- places one order per member (random quantity and flex on every product) with `--workers`
  concurrent writers, one transaction per order, as the API does; with `--seed-sql` the
  members, orders, lines, increments and running totals are written by a few set-based
  statements instead (10,000 orders of 50 lines through the order path would take many
  minutes, and the order path is measured by bench.http);
- closes the buy (cases, tiers, pro-rata allocation, frozen prices, one notification per
  order) in one transaction, and times it;
- reports a delivery 10 % short on every product (re-allocation, lines priced) and times it;
- runs the settlement job (trade account charges, supplier payable, patronage, notices,
  set-based) in one transaction, and times it.

Floors, measured on the same buy in the same run, in transactions rolled back: for close,
reading the demand (the close's own query), writing the lines a close must write (those whose
allocation is not their firm quantity; the floor as before, every line, printed beside) and
every order once, then a VACUUM of what they rolled back; for
settlement, one INSERT of the entry, one INSERT ... SELECT of its postings (a debit an order,
the credit once) and of the patronage records, from the orders' delivered totals, and one
UPDATE of the orders. Each figure is printed with its ratio to its floor; the settlement also
with the floor it had before it was one entry (an entry with both legs a member, summed from
every line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from deploy.stack import local_stack
from domain import migrate
from domain.buying import closing, orders, settlement
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_engine, make_session_maker
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import service as membership

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine

    from domain.db import SessionMaker


async def _setup(maker: SessionMaker, members: int, products: int) -> tuple[int, list[int], list[int]]:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with maker() as s:
        supplier = await catalog.create_supplier(s, name=f"Bench {tag}", email=f"{tag}@bench.test")
        product_ids = []
        for n in range(products):
            new = catalog.NewProduct(
                supplier.id or 0,
                f"B-{tag}-{n}",
                f"Product {n}",
                "unit",
                12,
                "purchases",
                Decimal("0.08"),
                (Tier(1, 1_000), Tier(100, 900), Tier(1_000, 800)),
            )
            product_ids.append((await catalog.create_product(s, new, actor=0)).product.id or 0)
        group_buy = await buying.create_group_buy(
            s,
            buying.NewGroupBuy(supplier.id or 0, f"Bench {tag}", now + timedelta(days=1), tuple(product_ids)),
            now=now,
            actor=0,
        )
        member_ids = []
        for i in range(members):
            member = await membership.apply(
                s, name=f"Bench {tag} {i}", email=f"{tag}.{i}@bench.test", contact_name=None, par_cents=10_000
            )
            member.status, member.joined_at = "full", now
            s.add(member)
            member_ids.append(member.id or 0)
        await s.commit()
    return group_buy.id or 0, product_ids, member_ids


SEED_MEMBERS = """
INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
SELECT 'Bench ' || :tag || ' ' || g, :tag || '.' || g || '@bench.test', 'full', 10000, now() - interval '1 day', now()
  FROM generate_series(1, :n) g
RETURNING id
"""
SEED_ORDERS = """
INSERT INTO buy_order (group_buy_id, member_id, status, placed_seq)
SELECT :gb, m, 'open', nextval('order_change_seq') FROM unnest(CAST(:members AS bigint[])) m ORDER BY m
"""
# Quantities 0-7 and flex 0-3 on every product, as the random mix of the order path; none both 0.
SEED_LINES = """
INSERT INTO order_line (order_id, group_buy_id, product_id, quantity, flex_quantity)
SELECT o.id, :gb, p, q, f
  FROM buy_order o CROSS JOIN unnest(CAST(:products AS bigint[])) p
 CROSS JOIN LATERAL (SELECT ((o.id * 7919 + p * 104729) % 8)::int AS q, ((o.id * 31 + p * 17) % 4)::int AS f) x
 WHERE o.group_buy_id = :gb AND q + f > 0
"""
SEED_INCREMENTS = """
INSERT INTO order_increment (order_line_id, at_seq, quantity, flex_quantity, created_at)
SELECT l.id, o.placed_seq, l.quantity, l.flex_quantity, now()
  FROM order_line l JOIN buy_order o ON o.id = l.order_id WHERE l.group_buy_id = :gb
"""
SEED_TOTALS = """
INSERT INTO group_buy_total (group_buy_id, product_id, shard, quantity, flex_quantity)
SELECT :gb, product_id, 0, sum(quantity), sum(flex_quantity) FROM order_line WHERE group_buy_id = :gb
 GROUP BY product_id
"""
# What a close must do, bare: read the demand, write the lines whose allocation is not their
# firm quantity (whole cases keep a product's bought units within a case of its firm sum, so at
# most case size - 1 lines a product: here every line of the first 11 orders, 550), and move
# every order. A line's price and total are the item's to give (closing.closed_line).
CLOSE_FLOOR = [
    """SELECT l.product_id, l.order_id, i.at_seq, i.quantity, i.flex_quantity
         FROM order_line l JOIN buy_order o ON o.id = l.order_id JOIN order_increment i ON i.order_line_id = l.id
        WHERE l.group_buy_id = :gb AND o.status <> 'cancelled'
        ORDER BY l.product_id, o.placed_seq, o.id, i.at_seq""",
    """UPDATE order_line SET allocated_quantity = quantity
        WHERE order_id IN (SELECT id FROM buy_order WHERE group_buy_id = :gb ORDER BY id LIMIT 11)""",
    "UPDATE buy_order SET status = 'allocated', updated_at = now() WHERE group_buy_id = :gb AND status = 'open'",
]
# The floor until the close wrote only those lines: every line's units, price and total.
CLOSE_FLOOR_BEFORE = [
    CLOSE_FLOOR[0],
    """UPDATE order_line SET allocated_quantity = quantity + flex_quantity, unit_price_cents = 800,
                             total_cents = (quantity + flex_quantity) * 864 WHERE group_buy_id = :gb""",
    CLOSE_FLOOR[2],
]
# What a settlement must write, bare: one entry charging every member (a debit an order, the
# credit once), one patronage record per member and pool, every order settled; the amounts read
# from the orders' totals the delivery stored (order_delivery_total), as the job reads them.
SETTLE_FLOOR = [
    """INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
       VALUES ('floor', '', now(), 'floor:' || CAST(:gb AS bigint))""",
    """INSERT INTO posting (entry_id, account_id, side, amount_cents)
       WITH c AS (SELECT sum(t.delivered_cents) AS cents FROM order_delivery_total t
                    JOIN buy_order o ON o.id = t.order_id
                   WHERE t.group_buy_id = :gb AND o.status = 'allocated' GROUP BY t.order_id),
            e AS (SELECT id FROM journal_entry WHERE idempotency_key = 'floor:' || CAST(:gb AS bigint))
       SELECT e.id, CAST(:account AS bigint), 'debit', c.cents FROM c CROSS JOIN e WHERE c.cents > 0
       UNION ALL
       SELECT e.id, CAST(:account AS bigint), 'credit', sum(c.cents) FROM c CROSS JOIN e WHERE c.cents > 0
        GROUP BY e.id""",
    """INSERT INTO patronage_record (member_id, member_business, fiscal_year, pool, amount_cents, occurred_at,
                                    source, group_buy_id, source_key)
       SELECT o.member_id, true, 2026, t.pool, t.delivered_cents, now(), 'group_buy', :gb,
              'floor:' || o.member_id || ':' || t.pool
         FROM order_delivery_total t JOIN buy_order o ON o.id = t.order_id
        WHERE t.group_buy_id = :gb AND o.status = 'allocated' AND t.delivered_cents <> 0""",
    "UPDATE buy_order SET status = 'settled', updated_at = now() WHERE group_buy_id = :gb AND status = 'allocated'",
]
# The floor as it was until the settlement was one entry and read the stored totals: an entry
# with both legs a member, the amounts summed from every line. Printed beside, for comparison.
SETTLE_FLOOR_BEFORE = [
    """INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
       SELECT 'floor', '', now(), 'floor:' || CAST(:gb AS bigint) || ':' || o.member_id
         FROM buy_order o WHERE o.group_buy_id = :gb AND o.status = 'allocated'""",
    """INSERT INTO posting (entry_id, account_id, side, amount_cents)
       WITH c AS (SELECT e.id, sum(l.total_cents) AS cents FROM buy_order o
                    JOIN order_line l ON l.order_id = o.id
                    JOIN journal_entry e ON e.idempotency_key = 'floor:' || CAST(:gb AS bigint) || ':' || o.member_id
                   WHERE o.group_buy_id = :gb AND o.status = 'allocated' GROUP BY e.id)
       SELECT id, CAST(:account AS bigint), 'debit', cents FROM c WHERE cents > 0
       UNION ALL SELECT id, CAST(:account AS bigint), 'credit', cents FROM c WHERE cents > 0""",
    """INSERT INTO patronage_record (member_id, member_business, fiscal_year, pool, amount_cents, occurred_at,
                                    source, group_buy_id, source_key)
       SELECT o.member_id, true, 2026, i.pool, sum(l.total_cents), now(), 'group_buy', :gb,
              'floor:' || o.member_id || ':' || i.pool
         FROM order_line l JOIN buy_order o ON o.id = l.order_id
         JOIN group_buy_item i ON i.group_buy_id = l.group_buy_id AND i.product_id = l.product_id
        WHERE l.group_buy_id = :gb AND o.status = 'allocated' AND l.total_cents <> 0
        GROUP BY o.member_id, i.pool""",
    "UPDATE buy_order SET status = 'settled', updated_at = now() WHERE group_buy_id = :gb AND status = 'allocated'",
]


class StatementTimer:
    """Each statement's wall time on the engine while on: where a phase's seconds go."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        self.timings: list[tuple[float, str]] = []
        self._started = 0.0
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        sa.event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_: object) -> None:
        self._started = time.perf_counter()

    def _after(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if self.on:
            self.timings.append((time.perf_counter() - self._started, " ".join(statement.split())))

    def report(self, title: str) -> None:
        total = sum(t for t, _ in self.timings)
        print(f"{title}: {len(self.timings)} statements, {total:.2f} s in the database")
        for seconds, sql in self.timings:
            print(f"  {seconds:7.3f} s  {sql[:150]}")
        self.timings = []


async def _floor(engine: AsyncEngine, statements: list[str], params: dict[str, object]) -> list[float]:
    """Run the statements in one transaction, each timed, roll it back and close the connection.

    Closed, not handed back to the pool: its server process keeps the plans it cached for the
    foreign-key checks, and the settlement floor's postings plan the check of
    `ledger_account` while it holds three accounts. The job, given the same connection,
    checked its 20,000 postings' accounts with that plan: 6.5 s of the job's 15 s under
    `auto_explain` (`Trigger for constraint fk_posting_account_id_ledger_account`).
    """
    seconds = []
    async with engine.connect() as conn:
        for statement in statements:
            started = time.perf_counter()
            await conn.execute(sa.text(statement), params)
            seconds.append(time.perf_counter() - started)
        await conn.rollback()
        await conn.invalidate()
    return seconds


async def _vacuum(engine: AsyncEngine) -> None:
    """Clear what the floors rolled back, so the close meets the lines as a buy's last order left them."""
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
            sa.text("VACUUM order_line, buy_order")
        )


async def _seed_sql(engine: AsyncEngine, maker: SessionMaker, members: int, products: int) -> tuple[int, list[int]]:
    """Members, and one open order per member on every product, written set-based."""
    group_buy_id, product_ids, _ = await _setup(maker, 0, products)
    async with engine.begin() as conn:
        tag = uuid.uuid4().hex[:8]
        member_ids = [r[0] for r in (await conn.execute(sa.text(SEED_MEMBERS), {"n": members, "tag": tag})).all()]
        params = {"gb": group_buy_id, "members": member_ids, "products": product_ids}
        for statement in (SEED_ORDERS, SEED_LINES, SEED_INCREMENTS, SEED_TOTALS):
            await conn.execute(sa.text(statement), params)
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text("VACUUM ANALYZE"))
    return group_buy_id, product_ids


async def _place(maker: SessionMaker, members: int, products: int, workers: int, seed: int) -> int:
    group_buy_id, product_ids, member_ids = await _setup(maker, members, products)
    rng = random.Random(seed)  # a reproducible order mix
    plans = {m: [LineRequest(p, rng.randint(0, 7), rng.randint(0, 3)) for p in product_ids] for m in member_ids}
    latencies: list[float] = []
    limit = asyncio.Semaphore(workers)

    async def place(member_id: int) -> None:
        async with limit, maker() as s:
            started = time.perf_counter()
            await orders.place_order(
                s, group_buy_id, member_id=member_id, lines=plans[member_id], now=datetime.now(UTC), actor=0
            )
            await s.commit()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(place(m) for m in member_ids))
    placing = time.perf_counter() - started
    latencies.sort()
    p50, p99 = statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"placed {members} orders x {products} lines with {workers} workers: {members / placing:.0f} orders/s, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    return group_buy_id


async def _close(
    maker: SessionMaker, group_buy_id: int, timer: StatementTimer | None
) -> tuple[buying.GroupBuyView, float]:
    """Close the buy in one transaction; the seconds with the commit."""
    async with maker() as s:
        started = time.perf_counter()
        _time(timer, on=True)
        view = await closing.close_group_buy(s, group_buy_id, now=datetime.now(UTC))
        _time(timer, on=False)
        committing = time.perf_counter()
        await s.commit()
        seconds, commit = time.perf_counter() - started, time.perf_counter() - committing
    if timer:
        timer.report(f"close statements (commit {commit:.2f} s)")
    return view, seconds


async def _settle(maker: SessionMaker, group_buy_id: int, timer: StatementTimer | None, was: str) -> float:
    """Run the settlement job in one transaction; the seconds with the commit (the deferred balance checks)."""
    async with maker() as s:
        started = time.perf_counter()
        _time(timer, on=True)
        await settlement.settle(s, group_buy_id, now=datetime.now(UTC), fiscal_year_start_month=1)
        _time(timer, on=False)
        committing = time.perf_counter()
        await s.commit()
        seconds, commit = time.perf_counter() - started, time.perf_counter() - committing
        status = (await buying.get_group_buy(s, group_buy_id)).group_buy.status
    if timer:
        timer.report("settlement statements")
    print(
        f"settlement job: {seconds:.2f} s ({was} -> {status}; commit with the deferred balance checks {commit:.2f} s)"
    )
    return seconds


async def bench(
    url: str, *, members: int, products: int, workers: int, seed: int, seed_sql: bool, statements: bool = False
) -> None:
    engine = make_engine(url, pool_size=workers)
    maker = make_session_maker(engine)
    timer = StatementTimer(engine) if statements else None
    try:
        if seed_sql:
            started = time.perf_counter()
            group_buy_id, _ = await _seed_sql(engine, maker, members, products)
            print(f"seeded {members} orders x {products} products set-based in {time.perf_counter() - started:.1f} s")
        else:
            group_buy_id = await _place(maker, members, products, workers, seed)
        params: dict[str, object] = {"gb": group_buy_id}
        close_floors = await _floor(engine, CLOSE_FLOOR, params)
        # Pro rata no longer reads the increments, so the writes alone are a second, stricter floor.
        close_floor, close_writes = sum(close_floors), sum(close_floors[1:])
        close_floor_before = sum(await _floor(engine, CLOSE_FLOOR_BEFORE, params))
        await _vacuum(engine)

        view, close_seconds = await _close(maker, group_buy_id, timer)
        bought = sum(i.cases * i.case_size for i in view.items)
        print(f"close: {close_seconds:.2f} s ({view.group_buy.status}, {bought} units in whole cases)")

        lines = [
            settlement.DeliveryLine(i.product_id, (i.cases * i.case_size) * 9 // 10) for i in view.items if i.cases
        ]
        async with maker() as s:
            started = time.perf_counter()
            _time(timer, on=True)
            delivered = await settlement.record_delivery(s, group_buy_id, lines, now=datetime.now(UTC))
            _time(timer, on=False)
            await s.commit()
            delivery_seconds = time.perf_counter() - started
        if timer:
            timer.report("delivery statements")
        print(f"delivery (re-allocate, price lines, queue settlement): {delivery_seconds:.2f} s")

        async with maker() as s:
            sales = await ledger.account_id(s, chart.SALES)
            await s.commit()
        floor_params = params | {"account": sales}
        settle_floor = sum(await _floor(engine, SETTLE_FLOOR, floor_params))
        floor_before = sum(await _floor(engine, SETTLE_FLOOR_BEFORE, floor_params))
        settle_seconds = await _settle(maker, group_buy_id, timer, delivered.group_buy.status)
        close_ratio, settle_ratio = close_seconds / close_floor, settle_seconds / settle_floor
        print(
            f"close {close_seconds:.2f} s, floor {close_floor:.2f} s, ratio {close_ratio:.1f}x "
            f"(writes alone {close_writes:.2f} s, {close_seconds / close_writes:.1f}x; the floor as before, "
            f"every line written: {close_floor_before:.2f} s, {close_seconds / close_floor_before:.1f}x); "
            f"delivery {delivery_seconds:.2f} s; "
            f"settlement {settle_seconds:.2f} s, floor {settle_floor:.2f} s, ratio {settle_ratio:.1f}x "
            f"(the floor as before, an entry a member from the lines: {floor_before:.2f} s, "
            f"{settle_seconds / floor_before:.1f}x) ({members} orders x {products} products)"
        )
    finally:
        await engine.dispose()


def _time(timer: StatementTimer | None, *, on: bool) -> None:
    if timer:
        timer.on = on


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=2000, help="members ordering (default 2000)")
    parser.add_argument("--products", type=int, default=5, help="products in the buy (default 5)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent order writers (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random orders (default 1)")
    parser.add_argument("--seed-sql", action="store_true", help="write the orders set-based, not through orders")
    parser.add_argument(
        "--statements", action="store_true", help="time each statement of close, delivery and settlement"
    )
    args = parser.parse_args(argv)
    if args.members < 1 or args.products < 1 or args.workers < 1:
        parser.error("need --members, --products and --workers >= 1")
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        asyncio.run(
            bench(
                urls.database_url,
                members=args.members,
                products=args.products,
                workers=args.workers,
                seed=args.seed,
                seed_sql=args.seed_sql,
                statements=args.statements,
            )
        )


if __name__ == "__main__":
    main()
