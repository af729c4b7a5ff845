"""Year-end allocation at scale: compute and approve a run over N members and M patronage records.

    python -m bench.allocation_run [--members 100000] [--records 10000000]

Prints the time of each phase and, as a floor measured in the same run, the bare
aggregation query the computation is built on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from deploy.stack import local_stack
from domain import migrate
from domain.allocation import posting
from domain.allocation import service as allocation
from domain.db import make_engine, make_session_maker

SEED_MEMBERS = """
INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
SELECT 'Member ' || g, 'm' || g || '@bench.test', 'full', 10000, '2020-01-01', now()
  FROM generate_series(1, :n) g
"""
SEED_CONSENT = """
INSERT INTO member_consent (member_id, kind, received_on) SELECT id, 'bylaw', '2020-01-01' FROM member
"""
# Members' purchases spread over two pools; 3% of the volume is non-member business.
SEED_RECORDS = """
INSERT INTO patronage_record (member_id, member_business, fiscal_year, pool, amount_cents, occurred_at, source,
                              source_key, recorded_at)
SELECT CASE WHEN g % 33 = 0 THEN NULL ELSE 1 + (g * 7919) % :members END,
       g % 33 <> 0, 2025, CASE WHEN (g / 7) % 5 = 0 THEN 'fuel' ELSE 'purchases' END,
       100 + (g * 104729) % 90000, '2025-06-30', 'import', 'bench-' || g, now()
  FROM generate_series(1::bigint, :records) g
"""
FLOOR = """
SELECT member_id, pool, sum(amount_cents) FROM patronage_record
 WHERE fiscal_year = 2025 AND member_business GROUP BY member_id, pool HAVING sum(amount_cents) > 0
"""


async def run(url: str, members: int, records: int) -> None:
    engine = make_engine(url, pool_size=2)
    session_maker = make_session_maker(engine)
    async with engine.begin() as conn:
        started = time.perf_counter()
        await conn.execute(sa.text(SEED_MEMBERS), {"n": members})
        await conn.execute(sa.text(SEED_CONSENT))
        await conn.execute(sa.text(SEED_RECORDS), {"members": members, "records": records})
    # Steady state, as autovacuum leaves a table between bulk loads and year end.
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text("VACUUM ANALYZE"))
    print(f"seed: {members:,} members, {records:,} patronage records in {time.perf_counter() - started:.1f} s")
    async with engine.connect() as conn:
        await conn.execute(sa.text("SET work_mem = '128MB'"))  # as the allocation job sets it
        started = time.perf_counter()
        rows = len((await conn.execute(sa.text(FLOOR))).all())
        floor = time.perf_counter() - started
    print(f"floor (bare aggregation, {rows:,} member-pool rows): {floor:.2f} s")

    request = {
        "fiscal_year": 2025,
        "pools": [
            {"pool": "purchases", "net_margin_cents": 900_000_000},
            {"pool": "fuel", "net_margin_cents": 50_000_000},
        ],
        "payment_date": "2026-03-15",
        "policy": {"profile": "us", "cash_rate": "0.20", "min_allocation_cents": 1000},
        "nonpatronage_income_cents": 0,
    }
    async with session_maker() as session:
        run_row = await allocation.start(
            session,
            fiscal_year=2025,
            request=request,
            payment_date=date(2026, 3, 15),
            actor=0,
            fiscal_year_start_month=1,
            today=date(2026, 3, 1),  # any day after FY 2025 ends
        )
        await session.commit()
        assert run_row.id is not None
        run_id = run_row.id
    phases = {}
    async with session_maker() as session:
        started = time.perf_counter()
        computed = await allocation.compute(session, run_id, fiscal_year_start_month=1)
        await session.commit()
        phases["compute (aggregate + rules + store lines)"] = time.perf_counter() - started
        assert computed.status == "computed", computed.failure_reason
    async with session_maker() as session:
        started = time.perf_counter()
        await posting.approve(session, run_id)
        phases["approve (post entries, lots, payouts)"] = time.perf_counter() - started
        started = time.perf_counter()
        await session.commit()
        phases["commit (deferred balance checks)"] = time.perf_counter() - started
    for name, seconds in phases.items():
        print(f"{name}: {seconds:.2f} s")
    total = sum(phases.values())
    # This process did what the worker does (compute, approve): its peak is the worker's.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total: {total:.2f} s for {members:,} members / {records:,} records; floor {floor:.2f} s; "
        f"compute/floor {phases[next(iter(phases))] / floor:.1f}x, total/floor {total / floor:.1f}x; "
        f"peak RSS {peak_mb:.0f} MB"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=10_000_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        asyncio.run(run(urls.database_url, args.members, args.records))


if __name__ == "__main__":
    main()
