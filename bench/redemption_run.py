"""FIFO redemption at scale: compute and approve a revolving-fund run over N members with Y years of lots.

    python -m bench.redemption_run [--members 100000] [--years 15]

Seeds N members, each with one retained-equity lot per fiscal year (its own ledger account,
credited by one entry per lot), then times a FIFO run whose budget redeems about a year and a
half of the oldest lots: `compute_run` (lot balances summed in PostgreSQL, the pure FIFO rule,
lines stored), `approve_run` (set-based: every lot's entry in one statement, every member's
payout in one) and the commit (the ledger's deferred balance checks). The floor, in the same
run, is the bare per-lot balance query the computation starts from.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from deploy.stack import local_stack
from domain import migrate
from domain.db import make_engine, make_session_maker
from domain.equity import service as equity

FIRST_YEAR = 2010
SEED_MEMBERS = """
INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
SELECT 'Member ' || g, 'm' || g || '@bench.test', 'full', 10000, '2005-01-01', now()
  FROM generate_series(1, :n) g
"""
SEED_LOTS = """
INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, source_key, created_at)
SELECT m.id, y, 'retained_patronage', true, 'bench:' || m.id || ':' || y, now()
  FROM member m, generate_series(CAST(:first AS int), CAST(:last AS int)) y
"""
SEED_ACCOUNTS = """
INSERT INTO ledger_account (code, name, kind, member_id, created_at)
SELECT 'member:' || member_id || ':equity_lot:' || id, 'Retained equity', 'equity', member_id, now() FROM equity_lot
"""
LINK_ACCOUNTS = """
UPDATE equity_lot l SET account_id = a.id FROM ledger_account a
 WHERE a.code = 'member:' || l.member_id || ':equity_lot:' || l.id
"""
SEED_SUMMARY = """
INSERT INTO ledger_account (code, name, kind, created_at) VALUES ('bench:summary', 'Bench summary', 'equity', now())
"""
SEED_ENTRIES = """
INSERT INTO journal_entry (kind, memo, occurred_at, recorded_at, idempotency_key)
SELECT 'patronage_allocation', '', make_date(fiscal_year + 1, 3, 15), now(), 'bench:lot:' || id FROM equity_lot
"""
# Faces from 10.00 to 510.00; balanced by construction (checked by the triggers the seeding skips).
SEED_POSTINGS = """
INSERT INTO posting (entry_id, account_id, side, amount_cents)
SELECT e.id, x.account, x.side, 1000 + (l.id * 7919) % 50000
  FROM equity_lot l JOIN journal_entry e ON e.idempotency_key = 'bench:lot:' || l.id
 CROSS JOIN LATERAL (VALUES (l.account_id, 'credit'), ((SELECT id FROM ledger_account WHERE code = 'bench:summary'),
                            'debit')) AS x(account, side)
"""
FLOOR = """
SELECT l.id, sum(p.amount_cents) FILTER (WHERE p.side = 'credit') - coalesce(sum(p.amount_cents)
       FILTER (WHERE p.side = 'debit'), 0)
  FROM equity_lot l JOIN posting p ON p.account_id = l.account_id
 WHERE l.fiscal_year <= :year GROUP BY l.id
"""


async def run(url: str, members: int, years: int) -> None:
    engine = make_engine(url, pool_size=2)
    session_maker = make_session_maker(engine)
    last = FIRST_YEAR + years - 1
    started = time.perf_counter()
    async with engine.begin() as conn:
        # Seeding only: the balance triggers are skipped (every entry is balanced by construction).
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(sa.text(SEED_MEMBERS), {"n": members})
        await conn.execute(sa.text(SEED_LOTS), {"first": FIRST_YEAR, "last": last})
        for statement in (SEED_ACCOUNTS, LINK_ACCOUNTS, SEED_SUMMARY, SEED_ENTRIES, SEED_POSTINGS):
            await conn.execute(sa.text(statement))
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text("VACUUM ANALYZE"))
    print(
        f"seed: {members:,} members x {years} years = {members * years:,} lots in {time.perf_counter() - started:.1f} s"
    )
    as_of = date(last, 12, 31)
    async with engine.connect() as conn:
        started = time.perf_counter()
        rows = len((await conn.execute(sa.text(FLOOR), {"year": as_of.year})).all())
        floor = time.perf_counter() - started
    print(f"floor (bare per-lot balances, {rows:,} lots): {floor:.2f} s")
    budget = members * 3 * 25_500 // 2  # about a year and a half of the oldest lots (mean face 260.00)
    phases = {}
    async with session_maker() as session:
        started = time.perf_counter()
        computed = await equity.compute_run(
            session, method=equity.Method.FIFO, board_budget_cents=budget, as_of=as_of, inputs=None
        )
        await session.commit()
        phases["compute (balances + FIFO rule + store lines)"] = time.perf_counter() - started
        run_id = computed.id or 0
        lines = computed.line_count
    async with session_maker() as session:
        started = time.perf_counter()
        posted = await equity.approve_run(session, run_id, now=datetime(last + 1, 6, 1, tzinfo=UTC))
        phases["approve (entries, payouts)"] = time.perf_counter() - started
        started = time.perf_counter()
        await session.commit()
        phases["commit (deferred balance checks)"] = time.perf_counter() - started
        assert posted.status == "posted"
    for name, seconds in phases.items():
        print(f"{name}: {seconds:.2f} s")
    total = sum(phases.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"FIFO redemption: {total:.2f} s for {members:,} members / {members * years:,} lots "
        f"({lines:,} lines redeemed); floor {floor:.2f} s, total/floor {total / floor:.1f}x; peak RSS {peak_mb:.0f} MB"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=15)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        asyncio.run(run(urls.database_url, args.members, args.years))


if __name__ == "__main__":
    main()
