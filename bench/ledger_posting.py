"""Ledger posting throughput: `domain.ledger.service.post_entry` against a raw asyncpg floor.

Run with the project's interpreter:

    .venv/bin/python -m bench.ledger_posting [--entries 2000] [--workers 8] [--accounts 64]

It starts its own embedded PostgreSQL (or uses DATABASE_URL), applies the migrations,
and posts the same plan of two-posting entries twice, one transaction per entry and
`--workers` concurrent writers each time:

- service: `post_entry` through a SQLModel session, then COMMIT;
- raw-sql: the same transaction shape with asyncpg directly (lock both accounts with
  SELECT ... FOR UPDATE in id order, INSERT journal_entry RETURNING id, INSERT two
  postings, COMMIT), which is the floor the service can be compared with.

The ledger is append-only, so every run uses its own account codes and keys.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from deploy.stack import local_stack
from domain import migrate
from domain.db import make_engine, make_session_maker
from domain.ledger import service
from domain.ledger.rules import AccountKind, PostingLine, Side

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from domain.db import SessionMaker

WARMUP_ENTRIES = 50


@dataclass(frozen=True, slots=True)
class Planned:
    """One entry to post: debit one account, credit another, with its own key."""

    key: str
    debit_id: int
    credit_id: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Result:
    """What one run measured."""

    name: str
    entries: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.entries / self.seconds

    def percentile(self, p: int) -> float:
        """The p-th percentile of the per-entry latency, in milliseconds."""
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


def plan(prefix: str, n: int, account_ids: Sequence[int], rng: random.Random) -> list[Planned]:
    """N entries between two distinct random accounts."""
    out = []
    for i in range(n):
        debit_id, credit_id = rng.sample(list(account_ids), 2)
        out.append(Planned(f"{prefix}:{i}", debit_id, credit_id, rng.randint(1, 100_000)))
    return out


async def run_workers(
    name: str, entries: Sequence[Planned], workers: int, post_one: Callable[[Planned], Awaitable[None]]
) -> Result:
    """Post every entry with `workers` concurrent writers; time each entry and the whole run."""
    queue = iter(entries)
    latencies: list[float] = []

    async def worker() -> None:
        for entry in queue:  # the shared iterator hands each entry to exactly one worker
            started = time.perf_counter()
            await post_one(entry)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return Result(name, len(entries), time.perf_counter() - started, latencies)


def service_poster(maker: SessionMaker) -> Callable[[Planned], Awaitable[None]]:
    when = datetime.now(UTC)

    async def post_one(entry: Planned) -> None:
        async with maker() as session:
            await service.post_entry(
                session,
                kind="bench",
                idempotency_key=entry.key,
                occurred_at=when,
                lines=[
                    PostingLine(entry.debit_id, Side.DEBIT, entry.amount_cents),
                    PostingLine(entry.credit_id, Side.CREDIT, entry.amount_cents),
                ],
            )
            await session.commit()

    return post_one


LOCK = "SELECT id FROM ledger_account WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
INSERT_ENTRY = (
    "INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key) VALUES ('bench', '', $1, $2) RETURNING id"
)
INSERT_POSTING = "INSERT INTO posting (entry_id, account_id, side, amount_cents) VALUES ($1, $2, $3, $4)"


def raw_poster(pool: asyncpg.Pool) -> Callable[[Planned], Awaitable[None]]:
    when = datetime.now(UTC)

    async def post_one(entry: Planned) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetch(LOCK, sorted((entry.debit_id, entry.credit_id)))
            entry_id = await conn.fetchval(INSERT_ENTRY, when, entry.key)
            await conn.executemany(
                INSERT_POSTING,
                [
                    (entry_id, entry.debit_id, "debit", entry.amount_cents),
                    (entry_id, entry.credit_id, "credit", entry.amount_cents),
                ],
            )

    return post_one


async def check_written(pool: asyncpg.Pool, prefix: str, expected: int) -> None:
    """Every planned entry exists once, with two postings, and the run nets to zero."""
    row = await pool.fetchrow(
        "SELECT count(DISTINCT e.id) AS entries, count(p.id) AS postings,"
        " coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'debit'), 0) AS debits,"
        " coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'credit'), 0) AS credits"
        " FROM journal_entry e JOIN posting p ON p.entry_id = e.id WHERE e.idempotency_key LIKE $1",
        prefix + ":%",
    )
    assert row["entries"] == expected, row
    assert row["postings"] == 2 * expected, row
    assert row["debits"] == row["credits"], row


async def bench(url: str, *, entries: int, workers: int, accounts: int, seed: int) -> list[Result]:
    run = uuid.uuid4().hex[:12]
    rng = random.Random(seed)
    engine = make_engine(url, pool_size=workers)
    maker = make_session_maker(engine)
    pool = await asyncpg.create_pool(url, min_size=workers, max_size=workers)
    try:
        async with maker() as session:
            ids = []
            for i in range(accounts):
                account = await service.ensure_account(session, f"bench:{run}:{i}", AccountKind.ASSET, "bench")
                assert account.id is not None
                ids.append(account.id)
            await session.commit()
        version = await pool.fetchval("SHOW server_version")
        embedded = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
        print(
            f"ledger posting: {entries} entries x 2 postings, {workers} workers, {accounts} accounts, "
            f"PostgreSQL {version} ({embedded}), Python {sys.version.split()[0]}"
        )
        posters = {"service": service_poster(maker), "raw-sql": raw_poster(pool)}
        for name, post_one in posters.items():  # warm both pools and statement caches, untimed
            await run_workers(name, plan(f"{run}:warm:{name}", WARMUP_ENTRIES, ids, rng), workers, post_one)
        results = []
        for name, post_one in posters.items():
            prefix = f"{run}:{name}"
            results.append(await run_workers(name, plan(prefix, entries, ids, rng), workers, post_one))
            await check_written(pool, prefix, entries)
        return results
    finally:
        await pool.close()
        await engine.dispose()


def report(results: list[Result]) -> None:
    print(f"{'path':<9} {'entries/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'total s':>8}")
    for r in results:
        print(
            f"{r.name:<9} {r.per_second:>10.1f} {r.percentile(50):>8.2f} {r.percentile(95):>8.2f} "
            f"{r.percentile(99):>8.2f} {r.seconds:>8.2f}"
        )
    svc, raw = results
    print(
        f"service/raw: throughput {svc.per_second / raw.per_second:.2f}x, "
        f"p50 latency {svc.percentile(50) / raw.percentile(50):.2f}x, "
        f"p99 latency {svc.percentile(99) / raw.percentile(99):.2f}x"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=2000, help="entries per path (default 2000)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent writers (default 8)")
    parser.add_argument("--accounts", type=int, default=64, help="accounts the entries pick from (default 64)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random plan (default 1)")
    parser.add_argument("--revision", default="head", help="schema revision to post against (default head)")
    args = parser.parse_args(argv)
    if args.entries < 2 or args.workers < 1 or args.accounts < 2:
        parser.error("need --entries >= 2, --workers >= 1 and --accounts >= 2")
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        if args.revision != "head":  # an older schema, to compare the ledger's triggers before and after
            migrate.downgrade(urls.database_url, args.revision)
        results = asyncio.run(
            bench(urls.database_url, entries=args.entries, workers=args.workers, accounts=args.accounts, seed=args.seed)
        )
    report(results)


if __name__ == "__main__":
    main()
