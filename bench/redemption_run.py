"""FIFO redemption at scale: compute and approve a revolving-fund run over N members with Y years of lots.

    python -m bench.redemption_run [--members 100000] [--years 15] [--keep DIR] [--rounds 2] [--statements]

Seeds N members, each with one retained-equity lot per fiscal year as year-end approval leaves
it since migration 0041 (the lot with its face and its entry, no account of its own; the year's
one entry debiting the income summary and crediting the retained equity account once with the
lots' faces and the payouts payable with the cash; then the cash paid out, a posting a member),
set-based: one statement per year, every id drawn first. The seeded database is a template:
each round runs in a fresh copy of it. With ``--keep DIR`` the PostgreSQL cluster lives in DIR
and the template stays there, so the next run at the same scale skips the seeding.

Each round times, in its own copy, the floor and a FIFO run whose budget redeems about a year
and a half of the oldest lots (odd rounds the floor first, even rounds the run first):
`compute_run`, `approve_run` and the commit (the ledger's deferred balance checks). The floor
is the bare SQL the redemption cannot do without, in one transaction:
read the oldest years' lot balances until the budget is covered, write a line per lot reached,
the run's one entry (a debit per line, one credit) and a payout per member, fire the deferred balance
checks (SET CONSTRAINTS ALL IMMEDIATE, which commit would do), and roll back. Each lot's balance
is read as the run reads it, its face and an index-only scan of the postings that name it
(migration 0041); the old floor, which grouped a join of the lots with those postings, is timed
and printed beside it.
``--statements`` prints every statement of the run that took more than 50 ms.
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
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from deploy.stack import local_stack
from domain import migrate
from domain.db import make_engine, make_session_maker
from domain.equity import service as equity
from domain.ledger import chart

FIRST_YEAR = 2010
SEED_MEMBERS = """
INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
SELECT 'Member ' || g, 'm' || g || '@bench.test', 'full', 10000, '2005-01-01', now()
  FROM generate_series(1, :n) g
"""
SEED_ACCOUNTS = """
INSERT INTO ledger_account (code, name, kind, created_at)
SELECT code, name, kind, now() FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:kinds AS text[]))
    AS a(code, name, kind)
ON CONFLICT (code) DO NOTHING
"""
# One fiscal year's lots as year-end approval writes them (domain/allocation/posting.py,
# `_POST_LINES`): per member a lot with its face (retained, 10.00 to 510.00) and the entry that
# posted it, and the year's one entry debiting the income summary with the allocations and
# crediting the retained equity account once with the lots' faces and the payouts payable once
# with the cash (a quarter of each retained part). The lot ids are drawn first, in member order,
# so each year's ids follow the previous year's and a lot's face is what the seed before 0041
# gave the lot of the same id (its account's one credit): the old and the new seed hold the
# same lots. Then the year's cash paid out, a debit of payouts payable per member and the bank
# credited once: a real co-op's ledger holds at least that beside the lots, and the run's plans
# are chosen for a ledger of that size (a seed with its 45 postings alone had the lots' balances
# read by a scan of the one-page posting table, docs/performance.md part 40).
SEED_YEAR = """
WITH line AS MATERIALIZED (
  SELECT m.id AS member_id, nextval(CAST(pg_get_serial_sequence('equity_lot', 'id') AS regclass)) AS lot_id
    FROM (SELECT id FROM member ORDER BY id) m
),
amount AS MATERIALIZED (
  SELECT *, 1000 + (lot_id * 7919) % 50000 AS retained, (1000 + (lot_id * 7919) % 50000) / 4 AS cash FROM line
),
total AS MATERIALIZED (SELECT sum(retained) AS retained, sum(cash) AS cash FROM amount),
entry AS MATERIALIZED (
  INSERT INTO journal_entry (kind, memo, occurred_at, recorded_at, idempotency_key)
  VALUES ('patronage_allocation', 'patronage allocation FY' || CAST(:fy AS int),
          make_date(CAST(:fy AS int) + 1, 3, 15), now(), 'allocation:bench' || :fy || ':' || 'members')
  RETURNING id
),
lot AS (
  INSERT INTO equity_lot (id, member_id, fiscal_year, kind, qualified, face_cents, entry_id, created_at)
  SELECT amount.lot_id, amount.member_id, CAST(:fy AS int), 'retained_patronage', true, amount.retained, entry.id,
         now()
    FROM entry CROSS JOIN amount
),
paid AS MATERIALIZED (
  INSERT INTO journal_entry (kind, memo, occurred_at, recorded_at, idempotency_key)
  VALUES ('payout', 'patronage cash paid FY' || CAST(:fy AS int),
          make_date(CAST(:fy AS int) + 1, 4, 1), now(), 'payout:bench' || :fy)
  RETURNING id
),
paid_out AS (
  INSERT INTO posting (entry_id, account_id, side, amount_cents)
  SELECT paid.id, CAST(:payable AS bigint), 'debit', amount.cash FROM paid CROSS JOIN amount
  UNION ALL
  SELECT paid.id, CAST(:bank AS bigint), 'credit', total.cash FROM paid CROSS JOIN total
)
INSERT INTO posting (entry_id, account_id, side, amount_cents)
SELECT entry.id, CAST(:summary AS bigint), 'debit', total.retained + total.cash FROM entry CROSS JOIN total
UNION ALL
SELECT entry.id, CAST(:retained AS bigint), 'credit', total.retained FROM entry CROSS JOIN total
UNION ALL
SELECT entry.id, CAST(:payable AS bigint), 'credit', total.cash FROM entry CROSS JOIN total
"""

# --- the floor: the bare SQL of a FIFO redemption ----------------------------------------

FLOOR_YEARS = "SELECT DISTINCT fiscal_year FROM equity_lot WHERE fiscal_year <= :year ORDER BY 1"
# A year's outstanding the way the run sums it (domain/equity/service.py, `_OUTSTANDING_BY_YEAR`,
# here for one year): its lots' faces, plus the postings that name them (the partial index
# ix_posting_equity_lot_id, migration 0041), never a pass over other postings.
FLOOR_YEAR_TOTAL = """
SELECT (SELECT coalesce(sum(face_cents), 0) FROM equity_lot WHERE fiscal_year = :year)
     + (SELECT coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END), 0)
          FROM posting p JOIN equity_lot l ON l.id = p.equity_lot_id
         WHERE p.equity_lot_id IS NOT NULL AND l.fiscal_year = :year)
"""
# Every lot of the years reached with its balance, a line each (the partial year's amounts pro
# rata, rounded down: the floor writes as many rows, it does not need the cents right). Each
# lot's balance as the run reads it (`_LOT_OUTSTANDING`): its face and an index-only scan of the
# postings that name it.
FLOOR_LINES = """
INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified, amount_cents)
SELECT :run, l.id, l.member_id, m.member_number, l.fiscal_year, l.qualified,
       CASE WHEN l.fiscal_year < :last THEN bal.outstanding
            ELSE greatest(1, CAST(bal.outstanding * CAST(:share AS float8) AS bigint)) END
  FROM equity_lot l
 CROSS JOIN LATERAL (
   SELECT l.face_cents
          + coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END), 0) AS outstanding
     FROM posting p WHERE p.equity_lot_id = l.id
 ) bal
  JOIN member m ON m.id = l.member_id
 WHERE l.fiscal_year = ANY(CAST(:years AS int[])) AND bal.outstanding > 0
"""
# The floor's shape before the twenty-second part of docs/performance.md, printed beside the new
# one: each lot's balance grouped from a join of the reached years' lots with the postings (now:
# its face and the postings that name it).
OLD_FLOOR_YEAR_TOTAL = """
SELECT coalesce(sum(b.outstanding), 0)
  FROM (SELECT l.face_cents + coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents
                                                ELSE -p.amount_cents END), 0) AS outstanding
          FROM equity_lot l LEFT JOIN posting p ON p.equity_lot_id = l.id
         WHERE l.fiscal_year = :year GROUP BY l.id) b
"""
OLD_FLOOR_LINES = """
INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified, amount_cents)
SELECT :run, b.id, b.member_id, m.member_number, b.fiscal_year, b.qualified,
       CASE WHEN b.fiscal_year < :last THEN b.outstanding
            ELSE greatest(1, CAST(b.outstanding * CAST(:share AS float8) AS bigint)) END
  FROM (SELECT l.id, l.member_id, l.fiscal_year, l.qualified,
               l.face_cents + coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents
                                                ELSE -p.amount_cents END), 0) AS outstanding
          FROM equity_lot l LEFT JOIN posting p ON p.equity_lot_id = l.id
         WHERE l.fiscal_year = ANY(CAST(:years AS int[])) GROUP BY l.id) b
  JOIN member m ON m.id = b.member_id
 WHERE b.outstanding > 0
"""
# The run's one entry (`_POST_RUN`): each line a debit of the retained equity account naming its
# lot, payouts payable credited with the total. The lot is on the line, so the floor does not read
# the lots again (the run does, for the stale check, which the floor leaves out).
FLOOR_POSTINGS = """
WITH entry AS (
  INSERT INTO journal_entry (kind, memo, occurred_at, recorded_at, idempotency_key)
  VALUES ('equity_redemption', '', now(), now(), CAST(:key AS text) || 'lots') RETURNING id
),
line AS MATERIALIZED (SELECT amount_cents, lot_id FROM redemption_line WHERE run_id = :run)
INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)
SELECT entry.id, CAST(:retained AS bigint), 'debit', amount_cents, lot_id FROM entry CROSS JOIN line
UNION ALL
SELECT entry.id, :payable, 'credit', (SELECT sum(amount_cents) FROM line), NULL FROM entry
"""
FLOOR_PAYOUTS = """
INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)
SELECT member_id, 'equity_redemption', sum(amount_cents), 'pending', CAST(:key AS text) || member_id, now()
  FROM redemption_line WHERE run_id = :run GROUP BY member_id
"""
FLOOR_RUN = """
INSERT INTO redemption_run (method, status, as_of, board_budget_cents, budget_cents, outstanding_cents,
                            redeemed_cents, line_count, member_count, created_at)
VALUES ('fifo', 'computed', :as_of, :budget, :budget, :budget, 0, 0, 0, now()) RETURNING id
"""


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    """Statements that cannot run in a transaction (CREATE/DROP DATABASE), on the maintenance database."""
    engine = make_engine(_with_database(url, "postgres"), pool_size=1)
    try:
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await auto.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def _template_exists(url: str, name: str) -> bool:
    engine = make_engine(_with_database(url, "postgres"), pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.first() is not None
    finally:
        await engine.dispose()


async def seed(url: str, members: int, years: int) -> None:
    engine = make_engine(url, pool_size=1)
    specs = [chart.income_summary(y) for y in range(FIRST_YEAR, FIRST_YEAR + years)]
    specs += [chart.PAYOUTS_PAYABLE, chart.RETAINED_EQUITY, chart.BANK]
    started = time.perf_counter()
    try:
        async with engine.begin() as conn:
            # Seeding only: foreign keys and the balance triggers are skipped (every entry is balanced
            # by construction, every id drawn from its table's sequence).
            await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            await conn.execute(sa.text(SEED_MEMBERS), {"n": members})
            await conn.execute(
                sa.text(SEED_ACCOUNTS),
                {"codes": [s.code for s in specs], "names": [s.name for s in specs], "kinds": [s.kind for s in specs]},
            )
            ids: dict[str, int] = dict(
                (await conn.execute(sa.text("SELECT code, id FROM ledger_account WHERE code LIKE 'coop:%'"))).all()
            )
            for year in range(FIRST_YEAR, FIRST_YEAR + years):
                await conn.execute(
                    sa.text(SEED_YEAR),
                    {
                        "fy": year,
                        "summary": ids[chart.income_summary(year).code],
                        "payable": ids[chart.PAYOUTS_PAYABLE.code],
                        "retained": ids[chart.RETAINED_EQUITY.code],
                        "bank": ids[chart.BANK.code],
                    },
                )
                print(f"  seeded FY{year}: {time.perf_counter() - started:.0f} s", flush=True)
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    print(
        f"seed: {members:,} members x {years} years = {members * years:,} lots"
        f" in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


async def floor(url: str, budget: int, as_of: date, *, old: bool = False) -> tuple[float, dict[str, float]]:
    """The bare SQL of the redemption, timed, then rolled back (``old``: the lots' balances grouped from a join)."""
    year_total, lines = (OLD_FLOOR_YEAR_TOTAL, OLD_FLOOR_LINES) if old else (FLOOR_YEAR_TOTAL, FLOOR_LINES)
    engine = make_engine(url, pool_size=1)
    parts: dict[str, float] = {}
    try:
        async with engine.connect() as conn:
            tx = await conn.begin()
            accounts: dict[str, int] = dict(
                (
                    await conn.execute(
                        sa.text("SELECT code, id FROM ledger_account WHERE code IN (:payable, :retained)"),
                        {"payable": chart.PAYOUTS_PAYABLE.code, "retained": chart.RETAINED_EQUITY.code},
                    )
                ).all()
            )
            run_id = (await conn.execute(sa.text(FLOOR_RUN), {"as_of": as_of, "budget": budget})).scalar_one()
            started = time.perf_counter()
            left, reached, share = budget, [], 1.0
            for (year,) in (await conn.execute(sa.text(FLOOR_YEARS), {"year": as_of.year})).all():
                total = int((await conn.execute(sa.text(year_total), {"year": year})).scalar_one())
                if total <= 0:
                    continue
                reached.append(year)
                share = min(1.0, left / total)
                left -= min(left, total)
                if left == 0:
                    break
            parts["read the years reached"] = time.perf_counter() - started
            mark = time.perf_counter()
            await conn.execute(sa.text(lines), {"run": run_id, "years": reached, "last": reached[-1], "share": share})
            parts["lines"] = time.perf_counter() - mark
            mark = time.perf_counter()
            await conn.execute(
                sa.text(FLOOR_POSTINGS),
                {
                    "run": run_id,
                    "payable": accounts[chart.PAYOUTS_PAYABLE.code],
                    "retained": accounts[chart.RETAINED_EQUITY.code],
                    "key": f"floor:{run_id}:",
                },
            )
            parts["entries and postings"] = time.perf_counter() - mark
            mark = time.perf_counter()
            await conn.execute(sa.text(FLOOR_PAYOUTS), {"run": run_id, "key": f"floor:{run_id}:"})
            parts["payouts"] = time.perf_counter() - mark
            mark = time.perf_counter()
            await conn.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))
            parts["balance checks"] = time.perf_counter() - mark
            total_s = time.perf_counter() - started
            await tx.rollback()
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(sa.text("VACUUM journal_entry, posting, redemption_line, payout, redemption_run"))
    finally:
        await engine.dispose()
    return total_s, parts


def _statement_timer(engine: Any, slow: list[tuple[float, str]]) -> None:  # noqa: ANN401 - SQLAlchemy's engine
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:  # noqa: ANN401, ARG001
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:  # noqa: ANN401, ARG001
        seconds = time.perf_counter() - conn.info["started"].pop()
        if seconds > 0.05:
            slow.append((seconds, " ".join(statement.split())[:110]))


async def redeem(url: str, budget: int, as_of: date, *, statements: bool) -> tuple[dict[str, float], int]:
    engine = make_engine(url, pool_size=2)
    slow: list[tuple[float, str]] = []
    if statements:
        _statement_timer(engine, slow)
    session_maker = make_session_maker(engine)
    phases = {}
    try:
        async with session_maker() as session:
            started = time.perf_counter()
            computed = await equity.compute_run(
                session, method=equity.Method.FIFO, board_budget_cents=budget, as_of=as_of, inputs=None
            )
            await session.commit()
            phases["compute"] = time.perf_counter() - started
            run_id = computed.id or 0
            lines = computed.line_count
        if statements:
            slow.append((0.0, "--- approve"))
        async with session_maker() as session:
            started = time.perf_counter()
            posted = await equity.approve_run(session, run_id, now=datetime(as_of.year + 1, 6, 1, tzinfo=UTC))
            phases["approve"] = time.perf_counter() - started
            started = time.perf_counter()
            await session.commit()
            phases["commit"] = time.perf_counter() - started
            assert posted.status == "posted"
        async with engine.connect() as conn:  # every line posted once, to the cent
            posted_cents = (
                await conn.execute(
                    sa.text(
                        "SELECT sum(p.amount_cents) FROM journal_entry e JOIN posting p ON p.entry_id = e.id"
                        " WHERE e.idempotency_key LIKE :k AND p.side = 'debit'"
                    ),
                    {"k": f"redemption:{run_id}:%"},
                )
            ).scalar_one()
            assert posted_cents == computed.redeemed_cents, (posted_cents, computed.redeemed_cents)
    finally:
        await engine.dispose()
    for seconds, text in slow:
        print(f"    {seconds:6.2f} s  {text}")
    return phases, lines


async def run(url: str, members: int, years: int, rounds: int, *, statements: bool) -> None:
    # Named for the lots' layout: a seed kept from before 0041 (a ledger account per lot) holds the
    # same lots, but migrated to head they would take the run's path for old lots, not new ones.
    template = f"bench_redemption_paid_out_{members}x{years}"
    if await _template_exists(url, template):
        print(f"seed: reusing database {template}", flush=True)
    else:
        await _admin(url, f"CREATE DATABASE {template}_tmp")
        seeded = _with_database(url, f"{template}_tmp")
        await asyncio.to_thread(migrate.upgrade, seeded)  # alembic runs its own event loop
        await seed(seeded, members, years)
        await _admin(url, f"ALTER DATABASE {template}_tmp RENAME TO {template}")
    last = FIRST_YEAR + years - 1
    as_of = date(last, 12, 31)
    budget = members * 3 * 25_500 // 2  # about a year and a half of the oldest lots (mean face 260.00)
    copy = f"{template}_round"
    for round_no in range(1, rounds + 1):
        await _admin(url, f"DROP DATABASE IF EXISTS {copy}", f"CREATE DATABASE {copy} TEMPLATE {template}")
        round_url = _with_database(url, copy)
        # A kept seed may predate a migration (the ledger's triggers): each round runs at head.
        await asyncio.to_thread(migrate.upgrade, round_url)
        load = os.getloadavg()[0]
        # Odd rounds time the floors first, even rounds the run first: whichever goes first reads a cold cache.
        if round_no % 2:
            old_s, old_parts = await floor(round_url, budget, as_of, old=True)
            floor_s, floor_parts = await floor(round_url, budget, as_of)
            phases, lines = await redeem(round_url, budget, as_of, statements=statements)
        else:
            phases, lines = await redeem(round_url, budget, as_of, statements=statements)
            floor_s, floor_parts = await floor(round_url, budget, as_of)
            old_s, old_parts = await floor(round_url, budget, as_of, old=True)
        await _admin(url, f"DROP DATABASE {copy}")
        total = sum(phases.values())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("  floor: " + "; ".join(f"{k} {v:.2f} s" for k, v in floor_parts.items()))
        print("  old floor: " + "; ".join(f"{k} {v:.2f} s" for k, v in old_parts.items()))
        first = "floors" if round_no % 2 else "run"
        print(
            f"FIFO redemption (round {round_no}, {first} first, load {load:.1f}): {total:.2f} s"
            f" for {members:,} members / "
            f"{members * years:,} lots ({lines:,} lines redeemed; compute {phases['compute']:.2f} s, approve "
            f"{phases['approve']:.2f} s, commit {phases['commit']:.2f} s); floor {floor_s:.2f} s, total/floor "
            f"{total / floor_s:.1f}x; old floor {old_s:.2f} s, total/old floor {total / old_s:.1f}x;"
            f" peak RSS {peak_mb:.0f} MB",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1, help="runs, each in a fresh copy of the seeded database")
    parser.add_argument("--keep", type=Path, help="keep the PostgreSQL cluster (and the seeded database) here")
    parser.add_argument("--statements", action="store_true", help="print each statement of the run over 50 ms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp:
        data = args.keep or Path(tmp)
        with local_stack(
            data, os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=args.keep is not None
        ) as urls:
            asyncio.run(run(urls.database_url, args.members, args.years, args.rounds, statements=args.statements))


if __name__ == "__main__":
    main()
