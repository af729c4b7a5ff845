"""Member register import: how long `domain.membership.imports.import_members` takes for N rows.

Run with the project's interpreter:

    .venv/bin/python -m bench.member_import [--rows 10000]

It starts its own embedded PostgreSQL (or uses DATABASE_URL; the ledger is
append-only, so point it at a scratch database), applies the migrations, imports
a register of `--rows` members (every seventh former, most with a paid-in share)
in one transaction, and prints the time and what landed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from deploy.stack import local_stack
from domain import migrate
from domain.db import make_engine, make_session_maker
from domain.membership.imports import MemberRow, import_members
from domain.membership.rules import Status

if TYPE_CHECKING:
    from collections.abc import Sequence

PAR_CENTS = 10_000


def register(run: str, rows: int) -> list[MemberRow]:
    """A plausible old register; refs are unique per run."""
    start = datetime(2010, 1, 1, tzinfo=UTC)
    out = []
    for i in range(rows):
        joined = start + timedelta(days=i % 4_000)
        former = i % 7 == 0
        out.append(
            MemberRow(
                external_ref=f"bench-{run}-{i}",
                name=f"Shop {i}",
                email=f"shop{i}@{run}.test",
                joined_at=joined,
                status=Status.FORMER if former else Status.FULL,
                share_paid_cents=0 if i % 5 == 0 else PAR_CENTS,
                left_at=joined + timedelta(days=365) if former else None,
            )
        )
    return out


async def bench(database_url: str, rows: int) -> None:
    """Import once and check what landed."""
    engine = make_engine(database_url, pool_size=1)
    run = uuid.uuid4().hex[:8]
    plan = register(run, rows)
    try:
        async with make_session_maker(engine)() as session:
            started = time.perf_counter()
            landed = await import_members(session, plan, par_cents=PAR_CENTS)
            await session.commit()
            elapsed = time.perf_counter() - started
        async with engine.connect() as conn:
            entries = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM journal_entry WHERE idempotency_key LIKE :k"),
                    {"k": f"import:member:bench-{run}-%"},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert len(landed) == rows, "every row lands"
    assert entries == sum(1 for r in plan if r.share_paid_cents), "one entry per paid-in share"
    print(f"member import: {rows} rows in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s), {entries} share entries")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the register (default 10000)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("need --rows >= 1")
    with (
        tempfile.TemporaryDirectory(prefix="coop-bench-") as tmp,
        local_stack(Path(tmp), os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), keep=False) as urls,
    ):
        migrate.upgrade(urls.database_url)
        asyncio.run(bench(urls.database_url, args.rows))


if __name__ == "__main__":
    main()
