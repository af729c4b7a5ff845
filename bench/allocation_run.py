"""Year-end allocation at scale: compute and approve a run over N members and M patronage records.

    python -m bench.allocation_run [--members 100000] [--records 10000000]
    python -m bench.allocation_run --keep /var/tmp/coop-bench --revisions 0028,head --repeat 2
    python -m bench.allocation_run --keep /var/tmp/coop-bench --explain 500

Prints the time of each phase and, as a floor measured in the same run, the bare
aggregation query the computation is built on (the faster of the planner's plan and the
plan without hash aggregation). A second floor, before the run: a line, an equity lot and a
payout for every member inserted bare and rolled back, what writing a run's rows costs at least.

The members and records are seeded once into a database kept as a template
(`bench_seed_<members>_<records>`); each run works on a fresh copy of it, migrated to head
(or down to one of `--revisions`, to measure a schema before and after on the same data).
With `--keep DIR` the embedded PostgreSQL lives in DIR and the template survives
between invocations, so a second 10M-record run skips the seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event

from deploy.stack import local_stack
from domain import migrate
from domain.allocation import posting
from domain.allocation import service as allocation
from domain.db import make_engine, make_session_maker

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import AdaptedConnection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
# patronage_record's unique and foreign-key constraints and its plain indexes: dropped for the
# bulk load and made again after it (one index build, one set-based check per foreign key, in
# place of a check and four index insertions per row), from their own definitions.
RECORD_SHAPE = """
SELECT 'constraint' AS kind, conname AS name, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE conrelid = 'patronage_record'::regclass AND contype IN ('f', 'u')
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes
 WHERE tablename = 'patronage_record'
   AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'patronage_record'::regclass)
 ORDER BY 1, 2
"""
FLOOR = """
SELECT member_id, pool, sum(amount_cents) FROM patronage_record
 WHERE fiscal_year = 2025 AND member_business GROUP BY member_id, pool HAVING sum(amount_cents) > 0
"""
# The floor's rows are counted in the server, as the computation uses its sums there: fetched,
# 2,000,000 rows at 1M members cost the floor 2-7 s of this process's decoding and 840 MB of
# its memory, which the run neither does nor needs (and the peak RSS printed is the run's).
FLOOR_COUNTED = f"SELECT count(*) FROM ({FLOOR}) f"  # noqa: S608 - a constant
# The same query as text of its own: a statement without parameters keeps the plan it was first
# prepared with, so the floor planned without hash aggregation needs a statement of its own.
FLOOR_COUNTED_UNHASHED = f"{FLOOR_COUNTED} -- planned with enable_hashagg off"
# What approval wrote, so a run's work per member is seen (members below the minimum get neither).
WRITTEN = """
SELECT (SELECT count(*) FROM equity_lot l JOIN journal_entry e ON e.id = l.entry_id WHERE e.idempotency_key = :key),
       (SELECT count(*) FROM payout WHERE starts_with(business_key, :prefix))
"""
# A second floor: the rows a run writes, written bare. One line, one equity lot and one payout
# for every member, inserted by plain INSERT ... SELECT from the member roll (the same tables,
# indexes and per-statement member checks; amounts made up, as nothing is computed) under the
# started run and an entry of their own, then rolled back and the tables vacuumed, so the run
# that follows writes into tables as the copy had them. No computation, no sums, no postings:
# what writing the three rows a member has costs at least.
WRITES_ENTRY = """
INSERT INTO journal_entry (kind, memo, occurred_at, recorded_at, idempotency_key)
VALUES ('patronage_allocation', 'bench: writes alone', now(), now(), :key)
RETURNING id
"""
WRITES_ALONE = {
    "lines": """
INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents, allocation_cents,
                             cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)
SELECT :run, id, member_number, 950000, 9500, 9500, 1900, 7600, 0, true, false FROM member ORDER BY id
""",
    "lots": """
INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, created_at)
SELECT id, 2025, 'retained_patronage', true, 7600, :entry, now() FROM member ORDER BY id
""",
    "payouts": """
INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)
SELECT id, 'patronage_cash', 1900, 'pending', :key || ':' || id, now() FROM member ORDER BY id
""",
}
VACUUM_WRITES = "VACUUM allocation_line, equity_lot, payout, journal_entry"
# The kept totals (0030) against the floor's GROUP BY on this seed (however they were made: the
# trigger at the seed, or the migration's backfill): rows in one and not the other, and the
# records counted both ways. In SQL after the run, so the check adds nothing to its peak RSS.
KEPT_DIFFERS = f"""
WITH grouped AS MATERIALIZED ({FLOOR}),
kept AS MATERIALIZED (
  SELECT member_id, pool, amount_cents FROM patronage_total
   WHERE fiscal_year = 2025 AND member_business AND amount_cents > 0
)
SELECT (SELECT count(*) FROM (TABLE grouped EXCEPT ALL TABLE kept) a)
     + (SELECT count(*) FROM (TABLE kept EXCEPT ALL TABLE grouped) b),
       (SELECT count(*) FROM patronage_record WHERE fiscal_year = 2025),
       (SELECT sum(record_count) FROM patronage_total WHERE fiscal_year = 2025)
"""  # noqa: S608 - constants


async def seed(url: str, members: int, records: int) -> float:
    """Members, their consents and the patronage records, then VACUUM ANALYZE; the seconds it took."""
    engine = make_engine(url, pool_size=1)
    started = time.perf_counter()
    async with engine.begin() as conn:
        shape = (await conn.execute(sa.text(RECORD_SHAPE))).all()
        for kind, name, _ in shape:
            drop = (
                f"ALTER TABLE patronage_record DROP CONSTRAINT {name}" if kind == "constraint" else f"DROP INDEX {name}"
            )
            await conn.execute(sa.text(drop))
        await conn.execute(sa.text(SEED_MEMBERS), {"n": members})
        await conn.execute(sa.text(SEED_CONSENT))
        await conn.execute(sa.text(SEED_RECORDS), {"members": members, "records": records})
        await conn.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
        for kind, name, definition in shape:
            make = (
                f"ALTER TABLE patronage_record ADD CONSTRAINT {name} {definition}"
                if kind == "constraint"
                else definition
            )
            await conn.execute(sa.text(make))
        if (await conn.execute(sa.text(RECORD_SHAPE))).all() != shape:
            msg = "patronage_record's constraints and indexes differ after the seed"
            raise RuntimeError(msg)
    # Steady state, as autovacuum leaves a table between bulk loads and year end.
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(sa.text("VACUUM ANALYZE"))
    await engine.dispose()
    return time.perf_counter() - started


async def _admin(url: str, *statements: str) -> None:
    """Run statements on the server's `postgres` database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(_database(url, "postgres").replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _exists(url: str, name: str) -> bool:
    conn = await asyncpg.connect(_database(url, "postgres").replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def seeded_template(url: str, members: int, records: int) -> str:
    """The name of the seeded template database for this scale, seeded now unless it exists."""
    name = f"bench_seed_{members}_{records}"
    if asyncio.run(_exists(url, name)):
        print(f"seed: reusing database {name}")
        return name
    making = f"{name}_making"  # renamed once complete, so a half-made seed is never reused
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{making}" WITH (FORCE)', f'CREATE DATABASE "{making}"'))
    migrate.upgrade(_database(url, making))
    seconds = asyncio.run(seed(_database(url, making), members, records))
    asyncio.run(_admin(url, f'ALTER DATABASE "{making}" RENAME TO "{name}"'))
    print(f"seed: {members:,} members, {records:,} patronage records in {seconds:.1f} s (kept as {name})")
    return name


def fresh_copy(url: str, template: str, revision: str) -> str:
    """A copy of the seeded template at `revision` (head, or an older one to compare); its URL."""
    name = "bench_run"
    started = time.perf_counter()
    asyncio.run(
        _admin(
            url,
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY',
        )
    )
    copy = _database(url, name)
    copied = time.perf_counter()
    # A seed kept from an older schema is migrated here (0030 backfills the totals: timed).
    migrate.upgrade(copy)
    migrated = time.perf_counter()
    if revision != "head":
        migrate.downgrade(copy, revision)
    print(
        f"copy of {template} at {revision} in {time.perf_counter() - started:.1f} s"
        f" (copy {copied - started:.1f} s, migrate to head {migrated - copied:.1f} s)"
    )
    return copy


async def _floor(conn: AsyncConnection, statement: str) -> tuple[int, float]:
    """The floor's rows and seconds: its second run, from a warm cache, as the computation then reads it."""
    for _ in range(2):
        started = time.perf_counter()
        rows = (await conn.execute(sa.text(statement))).scalar_one()
        seconds = time.perf_counter() - started
    return int(rows), seconds


def print_plans(engine: AsyncEngine, min_ms: int) -> None:
    """Print the plan of every statement of this engine's sessions that takes `min_ms` or more.

    auto_explain (shipped with PostgreSQL; LOAD needs a superuser, as the embedded server's
    is) sends each plan to the client as a NOTICE, so it is printed here whatever server runs
    the bench and whoever can read its log. The plans carry actual rows, buffers, WAL and
    per-node times, the statements the triggers run included. Per-node timing slows the
    statements it measures: compare a plan's nodes with each other, and take the phases'
    seconds from a run without it.
    """

    def on_notice(_connection: object, message: asyncpg.PostgresLogMessage) -> None:
        print(message.message, flush=True)

    settings = ";".join(
        (
            "LOAD 'auto_explain'",
            f"SET auto_explain.log_min_duration = {min_ms}",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_wal = on",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_level = notice",
        )
    )

    @event.listens_for(engine.sync_engine, "connect")
    def explain(dbapi_connection: AdaptedConnection, _record: object) -> None:
        # On the driver's connection, outside a transaction: the pool's rollback would undo a SET made in one.
        connection = dbapi_connection.driver_connection
        dbapi_connection.run_async(lambda _: connection.execute(settings))
        connection.add_log_listener(on_notice)


async def writes_alone(engine: AsyncEngine, run_id: int) -> dict[str, float]:
    """Seconds to write a line, a lot and a payout for every member, bare; rolled back, the tables vacuumed."""
    seconds = {}
    async with engine.connect() as conn, conn.begin() as transaction:
        key = f"bench:writes-alone:{run_id}"
        entry = (await conn.execute(sa.text(WRITES_ENTRY), {"key": key})).scalar_one()
        for name, statement in WRITES_ALONE.items():
            started = time.perf_counter()
            await conn.execute(sa.text(statement), {"run": run_id, "entry": entry, "key": key})
            seconds[name] = time.perf_counter() - started
        await transaction.rollback()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(VACUUM_WRITES))
    return seconds


async def run(url: str, members: int, records: int, *, explain_ms: int | None = None) -> None:
    engine = make_engine(url, pool_size=2)
    if explain_ms is not None:
        print_plans(engine, explain_ms)
    session_maker = make_session_maker(engine)
    async with engine.connect() as conn:
        await conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))  # as the allocation job sets it
        rows, planned = await _floor(conn, FLOOR_COUNTED)
        # The planner hashes the groups up to 100k members, where aggregating the records in
        # index order (an index-only scan, the groups already sorted) takes half the time; at 1M
        # it picks that plan itself. The floor is the faster of the two, so a slow plan does not
        # flatter the run.
        await conn.execute(sa.text("SET LOCAL enable_hashagg = off"))
        _, streamed = await _floor(conn, FLOOR_COUNTED_UNHASHED)
    floor = min(planned, streamed)
    print(
        f"floor (bare aggregation, {rows:,} member-pool rows, counted in the server): {floor:.2f} s"
        f" (the planner's plan {planned:.2f} s, without hash aggregation {streamed:.2f} s)"
    )

    # Margins grow with the co-op (95.00 a member, the 100k run's 9.5M), so every scale allocates
    # about the same to each member: with fixed margins most of 1M members would fall below the
    # 10.00 minimum, and approval would write a lot and a payout for few of them.
    request = {
        "fiscal_year": 2025,
        "pools": [
            {"pool": "purchases", "net_margin_cents": 9_000 * members},
            {"pool": "fuel", "net_margin_cents": 500 * members},
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
    written_alone = await writes_alone(engine, run_id)
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
    async with engine.connect() as conn:
        written = {"key": posting.members_key(run_id), "prefix": posting.key_prefix(run_id)}
        lots, payouts = (await conn.execute(sa.text(WRITTEN), written)).one()
    print(f"approval wrote {lots:,} equity lots and {payouts:,} payouts")
    total = sum(phases.values())
    writes = sum(written_alone.values())
    print(
        f"writes alone (a line, a lot and a payout a member, inserted bare before the run, rolled back): "
        f"{writes:.2f} s ({' + '.join(f'{name} {s:.2f}' for name, s in written_alone.items())}); "
        f"total/(floor + writes alone) {total / (floor + writes):.1f}x"
    )
    # This process did what the worker does (compute, approve): its peak is the worker's.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total: {total:.2f} s for {members:,} members / {records:,} records; floor {floor:.2f} s; "
        f"compute/floor {phases[next(iter(phases))] / floor:.1f}x, total/floor {total / floor:.1f}x; "
        f"peak RSS {peak_mb:.0f} MB"
    )
    async with engine.connect() as conn:
        if await conn.scalar(sa.text("SELECT to_regclass('patronage_total') IS NOT NULL")):
            differ, counted, kept = (await conn.execute(sa.text(KEPT_DIFFERS))).one()
            if differ or counted != kept:
                msg = f"patronage_total differs from the records' GROUP BY: {differ} rows, {counted} != {kept}"
                raise RuntimeError(msg)
            print(f"kept totals equal the records' GROUP BY ({rows:,} rows, {counted:,} records)")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="keep the embedded PostgreSQL and the seeded template here")
    parser.add_argument("--revisions", default="head", help="comma-separated: run on a copy at each (e.g. 0028,head)")
    parser.add_argument("--repeat", type=int, default=1, help="run every revision this many times, alternating")
    parser.add_argument(
        "--explain",
        type=int,
        metavar="MS",
        help="print the plan (actual rows, buffers, WAL, per-node times) of every statement taking MS or more",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        data_dir = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="coop-bench-")))
        urls = stack.enter_context(
            local_stack(data_dir, os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=bool(args.keep))
        )
        template = seeded_template(urls.database_url, args.members, args.records)
        revisions = args.revisions.split(",") * args.repeat
        if args.keep is None and "DATABASE_URL" not in os.environ and revisions == ["head"]:
            # A seed thrown away after one run at head (in a temporary server) is run on as it
            # is: a copy would double the disk it takes (about 28 GB at 1M members / 100M records).
            # On a given server the seed outlives the run, so it is copied as always.
            asyncio.run(
                run(_database(urls.database_url, template), args.members, args.records, explain_ms=args.explain)
            )
            return
        for revision in revisions:
            copy = fresh_copy(urls.database_url, template, revision)
            asyncio.run(run(copy, args.members, args.records, explain_ms=args.explain))
        asyncio.run(_admin(urls.database_url, 'DROP DATABASE IF EXISTS "bench_run" WITH (FORCE)'))


if __name__ == "__main__":
    main()
