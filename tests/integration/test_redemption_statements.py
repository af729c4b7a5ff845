"""Approving a redemption run is set-based: its statements do not grow with the lots it redeems."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from domain.equity import imports as lot_imports
from domain.equity import service as equity
from domain.equity.tables import RedemptionLine
from domain.errors import ConflictError
from domain.membership import imports
from domain.membership.rules import Status
from tests.integration.test_order_write_statements import statements

_tags = itertools.count()


async def _lots(session, members: int) -> None:
    """`members` members with two lots each (FY2018 and FY2019, 100.00 face, nothing redeemed)."""
    tag = f"stmt-{next(_tags)}"
    register = [
        imports.MemberRow(
            f"{tag}-{i}", f"Shop {i}", f"{tag}-{i}@shop.test", datetime(2010, 1, 1, tzinfo=UTC), Status.FULL, 0, None
        )
        for i in range(members)
    ]
    numbers = [m.member_number for m in await imports.import_members(session, register, par_cents=10_000)]
    lots = [
        lot_imports.LotRow(f"{tag}-lot-{n}-{year}", number, year, True, 10_000, 0)
        for n, number in enumerate(numbers)
        for year in (2018, 2019)
    ]
    await lot_imports.import_lots(session, lots, today=date(2027, 1, 1), fiscal_year_start_month=1)


async def test_approving_a_run_takes_the_same_statements_for_few_or_many_lots(session):
    counts = []
    for members in (2, 6):
        await _lots(session, members)
        run = await equity.compute_run(
            session, method=equity.Method.FIFO, board_budget_cents=10**9, as_of=date(2024, 12, 31), inputs=None
        )
        async with statements(session) as seen:
            posted = await equity.approve_run(session, run.id or 0, now=datetime(2025, 1, 15, tzinfo=UTC))
            await session.flush()
        assert posted.status == "posted"
        counts.append(len(seen))
    print(f"redemption approval: {counts} statements")  # noqa: T201 - reported in bench/results.md
    assert counts[0] == counts[1], counts


async def test_a_line_is_refused_unless_its_member_holds_its_lot(session):
    """One foreign key on (lot, member): a line naming another member than its lot's is refused."""
    await _lots(session, 2)
    run = await equity.compute_run(
        session, method=equity.Method.FIFO, board_budget_cents=10**9, as_of=date(2024, 12, 31), inputs=None
    )
    lines = (
        await session.execute(
            sa.select(col(RedemptionLine.id), col(RedemptionLine.member_id))
            .where(col(RedemptionLine.run_id) == run.id)
            .order_by(col(RedemptionLine.id))
        )
    ).all()
    first, other = lines[0], next(line for line in lines if line.member_id != lines[0].member_id)
    savepoint = await session.begin_nested()
    with pytest.raises(IntegrityError, match="fk_redemption_line_lot_id_equity_lot"):
        await session.execute(
            sa.update(RedemptionLine).where(col(RedemptionLine.id) == first.id).values(member_id=other.member_id)
        )
    await savepoint.rollback()


async def test_a_stale_approval_posts_nothing_before_it_is_refused(session):
    """The stale check and the entry are one statement: a stale line stops the entry, not only the commit."""
    await _lots(session, 2)
    as_of, now = date(2024, 12, 31), datetime(2025, 1, 15, tzinfo=UTC)
    one, two = [
        await equity.compute_run(session, method=equity.Method.FIFO, board_budget_cents=10**9, as_of=as_of, inputs=None)
        for _ in range(2)
    ]
    await equity.approve_run(session, one.id or 0, now=now)
    postings = sa.text("SELECT count(*) FROM posting")
    before = (await session.execute(postings)).scalar_one()
    with pytest.raises(ConflictError, match=r"4 lot\(s\) \(fiscal years 2018, 2019\)"):
        await equity.approve_run(session, two.id or 0, now=now)
    # Still inside the transaction the 409 will roll back: nothing of the second run was written.
    entry = sa.text("SELECT count(*) FROM journal_entry WHERE idempotency_key = :key")
    assert (await session.execute(entry, {"key": f"redemption:{two.id}:lots"})).scalar_one() == 0
    assert (await session.execute(postings)).scalar_one() == before
