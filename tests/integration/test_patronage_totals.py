"""Each fiscal year's patronage totals kept current as records are written (issue 12, year end).

`patronage_total` holds one row per (fiscal year, member, pool, member business) with the sum and
count of its records, kept by a statement trigger on patronage_record. These tests check that the
totals always equal a GROUP BY of the records: after random batches (members, non-members,
negative corrections, several years and pools, duplicates skipped by ON CONFLICT), under real
concurrent commits for the same members, and after the migration's backfill; and that nobody
edits a total by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from domain import migrate
from domain.db import make_session_maker
from domain.patronage import service as patronage
from domain.patronage.tables import PatronageRecord
from tests.support import scratch_db
from tests.support.users import make_member

DB_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = itertools.count()

GROUPED = """
SELECT fiscal_year, member_id, pool, member_business, sum(amount_cents), count(*)
  FROM patronage_record GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
TOTALS = """
SELECT fiscal_year, member_id, pool, member_business, amount_cents, record_count
  FROM patronage_total ORDER BY 1, 2, 3, 4
"""


async def _both(run) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    grouped = [tuple(r) for r in await run(GROUPED)]
    totals = [tuple(r) for r in await run(TOTALS)]
    return grouped, totals


# A record: (member slot or None for non-member business, year, pool, amount, member business?).
RECORD = st.tuples(
    st.one_of(st.none(), st.integers(0, 2)),
    st.sampled_from([2023, 2024]),
    st.sampled_from(["purchases", "fuel"]),
    st.integers(-50_000, 50_000).filter(bool),
    st.booleans(),
)
BATCHES = st.lists(st.lists(RECORD, min_size=1, max_size=8), min_size=1, max_size=5)


@DB_SETTINGS
@given(batches=BATCHES, resend=st.booleans())
async def test_after_random_batches_the_totals_equal_the_records_grouped(session, batches, resend):
    members = [await make_member(session, f"Totals {next(KEYS)}") for _ in range(3)]
    at = datetime(2024, 6, 1, tzinfo=UTC)
    sent: list[dict[str, object]] = []
    for batch in batches:
        rows = [
            {
                "member_id": None if slot is None else members[slot].id,
                "member_business": slot is not None and business,
                "fiscal_year": year,
                "pool": pool,
                "amount_cents": cents,
                "occurred_at": at,
                "source": "correction" if cents < 0 else "import",
                "source_key": f"totals-{next(KEYS)}",
            }
            for slot, year, pool, cents, business in batch
        ]
        # A batch sent again (a retried import) writes nothing, and adds nothing to the totals.
        again = sent[-1:] if resend else []
        await session.execute(
            insert(PatronageRecord).values(rows + again).on_conflict_do_nothing(index_elements=["source_key"])
        )
        sent.extend(rows)
    await patronage.count_own_records(session)
    grouped, totals = await _both(lambda q: _rows(session, q))
    assert totals == grouped


async def _rows(session, query: str) -> list[sa.Row[tuple[object, ...]]]:
    return list((await session.execute(sa.text(query))).all())


async def test_every_writer_of_records_keeps_the_totals(session):
    """The service's batched writers (an import by member number, a programme's lines) go through the trigger."""
    member = await make_member(session, f"Writer {next(KEYS)}")
    member.status, member.joined_at = "full", datetime(2020, 1, 1, tzinfo=UTC)
    session.add(member)
    await session.flush()
    number, tag = member.member_number, next(KEYS)
    at = datetime(2024, 3, 1, tzinfo=UTC)
    await patronage.import_records(
        session,
        [
            patronage.ImportRow(f"w{tag}-1", number, "purchases", 1_000, at),
            patronage.ImportRow(f"w{tag}-2", None, "purchases", 700, at),
            patronage.ImportRow(f"w{tag}-3", number, "fuel", -300, datetime(2023, 5, 1, tzinfo=UTC)),
        ],
        fiscal_year_start_month=1,
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    await patronage.record_direct_purchases(
        session,
        [
            patronage.DirectPurchase(next(KEYS), member.id or 0, True, "purchases", 2_500, at),
            patronage.DirectPurchase(next(KEYS), member.id or 0, True, "purchases", -4_000, at),
        ],
        fiscal_year_start_month=1,
    )
    # A record written in a savepoint rolled back is not counted.
    async with session.begin_nested() as savepoint:
        await patronage.import_records(
            session,
            [patronage.ImportRow(f"w{tag}-4", number, "purchases", 90_000, at)],
            fiscal_year_start_month=1,
            now=datetime(2025, 1, 1, tzinfo=UTC),
        )
        await savepoint.rollback()
    await patronage.count_own_records(session)
    grouped, totals = await _both(lambda q: _rows(session, q))
    assert totals == grouped
    mine = [t for t in totals if t[1] == member.id]
    assert [(t[0], t[2], t[4], t[5]) for t in mine] == [
        (2023, "fuel", -300, 1),
        (2024, "purchases", 1_000 + 2_500 - 4_000, 3),
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE patronage_total SET amount_cents = amount_cents + 1",
        "DELETE FROM patronage_total",
        (
            "INSERT INTO patronage_total (fiscal_year, member_id, pool, member_business, amount_cents, record_count)"
            " VALUES (1999, NULL, 'purchases', false, 100, 1)"
        ),
        "TRUNCATE patronage_total",
        "UPDATE patronage_total_pending SET amount_cents = 0",
    ],
)
async def test_a_total_cannot_be_changed_by_hand(session, statement):
    await session.execute(
        insert(PatronageRecord).values(
            member_business=False,
            fiscal_year=1999,
            pool="purchases",
            amount_cents=100,
            occurred_at=datetime(1999, 1, 1, tzinfo=UTC),
            source="import",
            source_key=f"hand-{next(KEYS)}",
        )
    )
    with pytest.raises(DBAPIError, match="patronage_total is kept by the trigger on patronage_record"):
        await session.execute(sa.text(statement))


async def test_records_cannot_be_truncated_behind_the_totals(session):
    # The totals follow INSERT only: a TRUNCATE of the records would leave them standing (0003 refuses it).
    with pytest.raises(DBAPIError, match="TRUNCATE on patronage_record is not allowed"):
        await session.execute(sa.text("TRUNCATE patronage_record"))


RACERS = 4


async def test_concurrent_writers_for_the_same_members_commit_with_exact_totals(committing_engine):
    """Several transactions write records for overlapping members (and non-members) at once, in
    different orders and in two statements each; every one commits, and no update is lost."""
    maker = make_session_maker(committing_engine)
    async with maker() as s:
        members = [(await make_member(s, f"Racer {i}")).id for i in range(12)]

    async def write(racer: int) -> None:
        rng = random.Random(racer)  # noqa: S311 - a reproducible order per racer
        async with maker() as s:
            for statement in range(2):
                order = [*members, None]
                rng.shuffle(order)
                rows = [
                    {
                        "member_id": m,
                        "member_business": m is not None,
                        "fiscal_year": 2024 + (i % 2),
                        "pool": ("purchases", "fuel")[i % 3 == 0],
                        "amount_cents": 100 * (racer + 1) - (1_000 if i % 5 == 0 else 0),
                        "occurred_at": datetime(2024, 6, 1, tzinfo=UTC),
                        "source": "import",
                        "source_key": f"race-{racer}-{statement}-{i}",
                    }
                    for i, m in enumerate(order)
                ]
                await s.execute(sa.insert(PatronageRecord).values(rows))
            await s.commit()

    await asyncio.gather(*(write(r) for r in range(RACERS)))
    async with maker() as s:
        grouped, totals = await _both(lambda q: _rows(s, q))
        count = (await s.execute(sa.text("SELECT count(*) FROM patronage_record"))).scalar_one()
        left = await _rows(
            s, "SELECT count(*) FROM patronage_total_pending UNION ALL SELECT count(*) FROM patronage_total_flush"
        )
    assert count == RACERS * 2 * (len(members) + 1)
    assert [int(str(r[0])) for r in left] == [0, 0]  # the commits moved every pending sum
    assert totals == grouped


BACKFILL = "coop_patronage_totals_backfill"


async def _write_history(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "INSERT INTO member (name, email, status, share_par_cents, created_at)"
            " SELECT 'Old ' || g, 'old' || g || '@shop.test', 'full', 10000, now() FROM generate_series(1, 5) g"
        )
        await conn.execute(
            """
            INSERT INTO patronage_record (member_id, member_business, fiscal_year, pool, amount_cents, occurred_at,
                                          source, source_key)
            SELECT CASE WHEN g % 4 = 0 THEN NULL ELSE m.id END, g % 4 <> 0, 2020 + g % 3,
                   CASE WHEN g % 2 = 0 THEN 'purchases' ELSE 'fuel' END, CASE WHEN g % 7 = 0 THEN -50 ELSE g END,
                   now(), 'import', 'old-' || g
              FROM generate_series(1, 200) g JOIN member m ON m.email = 'old' || (1 + g % 5) || '@shop.test'
            """
        )
    finally:
        await conn.close()


async def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def test_the_migration_backfills_the_totals_of_records_written_before_it(stack):
    url = asyncio.run(scratch_db.recreate(stack.database_url, BACKFILL, template=scratch_db.TEMPLATE))
    try:
        migrate.downgrade(url, "0029")  # the revision below the totals
        asyncio.run(_write_history(url))
        migrate.upgrade(url)
        grouped, totals = asyncio.run(_both(lambda q: _fetch(url, q)))
        assert len(grouped) > 10
        assert totals == grouped
    finally:
        asyncio.run(scratch_db.drop(stack.database_url, BACKFILL))
