"""Group buy throughput: concurrent order placement, then close and settlement of one big buy.

Run with the project's interpreter:

    .venv/bin/python -m bench.group_buy_close [--members 2000] [--products 5] [--workers 8]

It starts its own embedded PostgreSQL (or uses DATABASE_URL), applies the migrations, and:

- places one order per member (random quantity and flex on every product) with `--workers`
  concurrent writers, one transaction per order, as the API does;
- closes the buy (cases, tiers, pro-rata allocation, frozen prices, one notification per
  order) in one transaction, and times it;
- reports a delivery 10 % short on every product and settles it (re-allocation, one trade
  account charge and patronage records per member) in one transaction, and times it.
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

from deploy.stack import local_stack
from domain import migrate
from domain.buying import closing, orders, settlement
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_engine, make_session_maker
from domain.membership import service as membership

if TYPE_CHECKING:
    from collections.abc import Sequence

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


async def bench(url: str, *, members: int, products: int, workers: int, seed: int) -> None:
    engine = make_engine(url, pool_size=workers)
    maker = make_session_maker(engine)
    try:
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

        async with maker() as s:
            started = time.perf_counter()
            view = await closing.close_group_buy(s, group_buy_id, now=datetime.now(UTC))
            await s.commit()
            close_seconds = time.perf_counter() - started
        bought = sum(i.cases * i.case_size for i in view.items)
        print(f"close: {close_seconds:.2f} s ({view.group_buy.status}, {bought} units in whole cases)")

        lines = [
            settlement.DeliveryLine(i.product_id, (i.cases * i.case_size) * 9 // 10) for i in view.items if i.cases
        ]
        async with maker() as s:
            started = time.perf_counter()
            settled = await settlement.record_delivery(
                s, group_buy_id, lines, now=datetime.now(UTC), fiscal_year_start_month=1
            )
            await s.commit()
            settling = time.perf_counter() - started
        print(
            f"delivery and settlement: {settling:.2f} s ({settled.group_buy.status}, {members} trade accounts charged)"
        )
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=2000, help="members ordering (default 2000)")
    parser.add_argument("--products", type=int, default=5, help="products in the buy (default 5)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent order writers (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random orders (default 1)")
    args = parser.parse_args(argv)
    if args.members < 1 or args.products < 1 or args.workers < 1:
        parser.error("need --members, --products and --workers >= 1")
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        asyncio.run(
            bench(urls.database_url, members=args.members, products=args.products, workers=args.workers, seed=args.seed)
        )


if __name__ == "__main__":
    main()
