"""0043 keys allocation lines by run and member; its downgrade numbers them again and keeps them unique."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from domain import migrate
from tests.support.scratch_db import migrated_database

pytestmark = pytest.mark.slow

SCRATCH = "coop_allocation_line_key"

# Two runs, three members: six lines, written in an order that is not (run, member).
_ROWS = """
WITH m AS (
  INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
  SELECT 'Line ' || g, 'line' || g || '@lines.test', 'full', 10000, '2015-01-01', now() FROM generate_series(1, 3) g
  RETURNING id
), r AS (
  INSERT INTO allocation_run (fiscal_year, status, payment_date, request, created_at)
  SELECT y, 'computed', '2026-03-15', '{}', now() FROM generate_series(2024, 2025) y
  RETURNING id
)
INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents, allocation_cents,
                             cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)
SELECT r.id, m.id, m.id, 100, 100, 100, 20, 80, 0, true, false
  FROM r CROSS JOIN m ORDER BY m.id DESC, r.id DESC
"""
_LINE = (
    "INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents,"
    " allocation_cents, cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)"
    " SELECT run_id, member_id, 9, 1, 1, 1, 0, 1, 0, false, false FROM allocation_line LIMIT 1"
)


async def _write(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_ROWS)
    finally:
        await conn.close()


async def _after_downgrade(url: str) -> tuple[list[tuple[int, int, int]], int, str]:
    """The lines (id, run, member) by id, the id a new line is given, and what a duplicate line raises."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id, run_id, member_id FROM allocation_line ORDER BY id")
        lines = [(r[0], r[1], r[2]) for r in rows]
        member = await conn.fetchval(
            "INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)"
            " VALUES ('Line 4', 'line4@lines.test', 'full', 10000, '2015-01-01', now()) RETURNING id"
        )
        new_id = await conn.fetchval(
            "INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents,"
            " allocation_cents, cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)"
            " SELECT run_id, $1, 4, 1, 1, 1, 0, 1, 0, false, false FROM allocation_line LIMIT 1 RETURNING id",
            member,
        )
        with pytest.raises(asyncpg.UniqueViolationError) as caught:
            await conn.execute(_LINE)
        return lines, new_id, caught.value.constraint_name or ""
    finally:
        await conn.close()


def test_the_downgrade_numbers_the_lines_in_run_and_member_order(stack):
    with migrated_database(stack.database_url, SCRATCH) as url:
        asyncio.run(_write(url))
        migrate.downgrade(url, "0042")
        lines, new_id, duplicate = asyncio.run(_after_downgrade(url))
        assert [line[0] for line in lines] == [1, 2, 3, 4, 5, 6]
        assert [line[1:] for line in lines] == sorted(line[1:] for line in lines)
        assert new_id == 7
        assert duplicate == "uq_allocation_line_run_member"
        migrate.upgrade(url)
