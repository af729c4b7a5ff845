"""0042 drops the retained lots' `source_key`; its downgrade gives each one back from its entry's key."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from domain import migrate
from tests.support.scratch_db import migrated_database

pytestmark = pytest.mark.slow

SCRATCH = "coop_lots_source_key"

# A member with a lot of a run posted as one entry (0041 on), one of a run posted an entry a
# member (before), and an imported lot, which never had a source key.
_ROWS = """
WITH m AS (
  INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)
  VALUES ('Keys', 'keys@lots.test', 'full', 10000, '2015-01-01', now()) RETURNING id
), e AS (
  INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
  SELECT 'patronage_allocation', '', now(), k FROM m,
         unnest(ARRAY['allocation:7:members', 'allocation:3:' || m.id, 'import:lot:x:face']) k
  RETURNING id, idempotency_key
)
INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, created_at)
SELECT m.id, 2020, CASE WHEN starts_with(e.idempotency_key, 'import') THEN 'imported' ELSE 'retained_patronage' END,
       true, 100, e.id, now()
  FROM m CROSS JOIN e
"""


async def _write(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET session_replication_role = replica")  # the entries need no postings here
        await conn.execute(_ROWS)
    finally:
        await conn.close()


async def _keys(url: str) -> list[tuple[str, str | None]]:
    """Each lot's entry key and source key, by entry key."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT e.idempotency_key, l.source_key FROM equity_lot l JOIN journal_entry e ON e.id = l.entry_id"
            " ORDER BY e.idempotency_key"
        )
        return [(r[0], r[1]) for r in rows]
    finally:
        await conn.close()


def test_the_downgrade_gives_retained_lots_their_key_from_their_entry(stack):
    with migrated_database(stack.database_url, SCRATCH) as url:
        asyncio.run(_write(url))
        migrate.downgrade(url, "0041")
        member = asyncio.run(_keys(url))
        number = member[0][0].rsplit(":", 1)[1]
        assert member == [
            (f"allocation:3:{number}", f"allocation:3:{number}"),
            ("allocation:7:members", f"allocation:7:{number}"),
            ("import:lot:x:face", None),
        ]
        migrate.upgrade(url)
