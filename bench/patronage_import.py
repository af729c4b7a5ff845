"""What keeping patronage totals costs a writer: a patronage import with and without the totals trigger.

    .venv/bin/python -m bench.patronage_import [--members 10000] [--rows 20000] [--rounds 3]

Starts its own embedded PostgreSQL, migrates it, adds `--members` full members, then imports
`--rows` rows (every member, two pools, 3% non-member) through `patronage.import_records`, as
`POST /v1/patronage/imports` does (1,000 rows a statement), and commits, `--rounds` times. Each
round is timed twice, alternating: with the totals trigger (0030: each statement's rows summed
into the transaction's pending sums, added to patronage_total at commit) and with it disabled
(as before 0030, same tables and indexes). Checks that the totals equal the records' GROUP BY
(the rounds without the trigger write fiscal year 2024, so 2025's totals stay whole).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from deploy.stack import local_stack
from domain import migrate
from domain.db import make_engine, make_session_maker
from domain.patronage import service as patronage

MEMBERS = """
INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
SELECT 'Member ' || g, 'm' || g || '@bench.test', 'full', 10000, '2020-01-01', now() FROM generate_series(1, :n) g
"""
TRIGGER = "ALTER TABLE patronage_record {} TRIGGER patronage_record_totals"
CHECK = """
SELECT count(*) FROM (
  SELECT fiscal_year, member_id, pool, member_business, sum(amount_cents) AS a, count(*) AS c
    FROM patronage_record WHERE fiscal_year = 2025 GROUP BY 1, 2, 3, 4
  EXCEPT
  SELECT fiscal_year, member_id, pool, member_business, amount_cents, record_count
    FROM patronage_total WHERE fiscal_year = 2025) d
"""


async def bench(url: str, members: int, rows: int, rounds: int) -> None:
    engine = make_engine(url, pool_size=1)
    maker = make_session_maker(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.text(MEMBERS), {"n": members})
        numbers = [int(n) for (n,) in await conn.execute(sa.text("SELECT member_number FROM member ORDER BY 1"))]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    seconds: dict[str, list[float]] = {"with totals": [], "without (as before 0030)": []}
    batch = 0
    for _ in range(rounds):
        for kept, label in ((True, "with totals"), (False, "without (as before 0030)")):
            batch += 1
            import_rows = [
                patronage.ImportRow(
                    f"b{batch}-{i}",
                    None if i % 33 == 0 else numbers[i % len(numbers)],
                    "fuel" if (i // 7) % 5 == 0 else "purchases",
                    100 + (i * 104729) % 90000,
                    # Imports without the trigger go to another fiscal year: 2025's totals stay checkable.
                    datetime(2025 if kept else 2024, 6, 30, tzinfo=UTC),
                )
                for i in range(rows)
            ]
            async with engine.begin() as conn:
                await conn.execute(sa.text(TRIGGER.format("ENABLE" if kept else "DISABLE")))
            async with maker() as s:
                started = time.perf_counter()
                result = await patronage.import_records(s, import_rows, fiscal_year_start_month=1, now=now)
                await s.commit()
                seconds[label].append(time.perf_counter() - started)
            assert result.imported == rows
    async with engine.begin() as conn:
        await conn.execute(sa.text(TRIGGER.format("ENABLE")))
        if await conn.scalar(sa.text(CHECK)):
            msg = "patronage_total differs from the records' GROUP BY"
            raise RuntimeError(msg)
    for label, times in seconds.items():
        print(f"import {rows:,} rows ({members:,} members), {label}: median {statistics.median(times):.2f} s {times}")
    with_totals, without = (statistics.median(t) for t in seconds.values())
    print(f"the totals cost the import {with_totals - without:+.2f} s ({with_totals / without:.2f}x)")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), None, None, keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        asyncio.run(bench(urls.database_url, args.members, args.rows, args.rounds))


if __name__ == "__main__":
    main()
