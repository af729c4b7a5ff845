"""Redemption on the real database, for random co-ops: never more than the budget or a lot holds."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from domain.db import make_engine, make_session_maker
from domain.equity import imports as lot_imports
from domain.equity import rules
from domain.equity import service as equity
from domain.equity.statements import capital_account
from domain.equity.tables import EquityLot, RedemptionLine, RedemptionRun
from domain.errors import ConflictError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.tables import JournalEntry
from domain.membership import imports
from domain.membership import service as membership
from domain.membership.rules import Status
from domain.payments.tables import Payout
from tests.support.scratch_db import migrated_database

if TYPE_CHECKING:
    from collections.abc import Iterator

DB_SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_refs = itertools.count()
AS_OF = date(2024, 12, 31)

# (member index, fiscal year, face, redeemed share in tenths)
lot_rows = st.lists(
    st.tuples(st.integers(0, 3), st.integers(2016, 2026), st.integers(1, 40_000), st.integers(0, 10)),
    min_size=0,
    max_size=12,
)
methods = st.sampled_from([equity.Method.FIFO, equity.Method.PERCENTAGE])
budgets = st.integers(0, 250_000)
caps = st.none() | st.builds(
    equity.BudgetInputs,
    st.integers(-50_000, 300_000),
    st.integers(0, 50_000),
    st.integers(0, 300_000),
    st.integers(0, 600_000),
    st.decimals(min_value=0, max_value=Decimal("0.9"), places=2),
)


async def _coop(session, rows) -> None:
    """Members (some former) and their lots, through the import service."""
    tag = next(_refs)
    register = [
        imports.MemberRow(
            f"prop-{tag}-{i}",
            f"Shop {i}",
            f"p{tag}-{i}@shop.test",
            datetime(2010, 1, 1, tzinfo=UTC),
            Status.FORMER if i == 3 else Status.FULL,
            0,
            datetime(2020, 1, 1, tzinfo=UTC) if i == 3 else None,
        )
        for i in range(4)
    ]
    numbers = [m.member_number for m in await imports.import_members(session, register, par_cents=10_000)]
    lots = [
        lot_imports.LotRow(f"prop-{tag}-lot-{k}", numbers[who], year, year % 2 == 0, face, face * tenths // 10)
        for k, (who, year, face, tenths) in enumerate(rows)
    ]
    await lot_imports.import_lots(session, lots, today=date(2027, 1, 1), fiscal_year_start_month=1)


async def _outstanding(session) -> dict[int, tuple[int, int]]:
    """Every lot's (fiscal year, outstanding) from the ledger."""
    member_ids = (await session.execute(sa.select(col(EquityLot.member_id)).distinct())).scalars().all()
    found = {}
    for member_id in member_ids:
        for lot in (await capital_account(session, member_id)).lots:
            found[lot.lot_id] = (lot.fiscal_year, lot.outstanding_cents)
    return found


# In one statement, so one snapshot: the retained equity account's balance, and the outstanding
# of the lots it holds (every lot but those written before 0041 with their own account).
_CONTROL_AND_LOTS = sa.text("""
SELECT (SELECT coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END), 0)
          FROM posting p JOIN ledger_account a ON a.id = p.account_id WHERE a.code = :retained),
       (SELECT coalesce(sum(face_cents), 0) FROM equity_lot WHERE account_id IS NULL)
       + (SELECT coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END), 0)
            FROM posting p JOIN equity_lot l ON l.id = p.equity_lot_id WHERE l.account_id IS NULL)
""")


async def _assert_retained_equity_is_its_lots(session) -> None:
    account, lots = (await session.execute(_CONTROL_AND_LOTS, {"retained": chart.RETAINED_EQUITY.code})).one()
    assert account == lots


async def _lines(session, run_id: int) -> list[RedemptionLine]:
    result = await session.exec(select(RedemptionLine).where(col(RedemptionLine.run_id) == run_id))
    return list(result.all())


@DB_SETTINGS
@given(rows=lot_rows, method=methods, budget=budgets, inputs=caps)
async def test_a_run_never_redeems_more_than_the_budget_or_a_lot_and_posts_exactly_its_lines(
    session, rows, method, budget, inputs
):
    savepoint = await session.begin_nested()
    try:
        await _coop(session, rows)
        await _assert_retained_equity_is_its_lots(session)
        before = await _outstanding(session)
        eligible = {lot_id: out for lot_id, (year, out) in before.items() if year <= AS_OF.year and out > 0}

        run = await equity.compute_run(session, method=method, board_budget_cents=budget, as_of=AS_OF, inputs=inputs)
        lines = await _lines(session, _id(run))
        redeemed = sum(line.amount_cents for line in lines)

        assert run.budget_cents <= budget
        assert redeemed == run.redeemed_cents == min(run.budget_cents, sum(eligible.values()))
        assert all(0 < line.amount_cents <= eligible[line.lot_id] for line in lines)
        assert len({line.lot_id for line in lines}) == len(lines)
        if method is equity.Method.FIFO:  # at most one year partly redeemed, every older year whole
            partial = sorted({line.fiscal_year for line in lines if line.amount_cents < eligible[line.lot_id]})
            assert len(partial) <= 1
            touched = {line.lot_id for line in lines}
            if partial:
                older = [i for i, (y, _) in before.items() if i in eligible and y < partial[0]]
                assert all(i in touched and eligible[i] == _amount(lines, i) for i in older)

        posted = await equity.approve_run(session, _id(run), now=datetime.now(UTC))
        again = await equity.approve_run(session, _id(run), now=datetime.now(UTC))
        assert posted.status == again.status == "posted"
        after = await _outstanding(session)
        for lot_id, (_, out) in before.items():
            assert after[lot_id][1] == out - _amount(lines, lot_id) >= 0
        payouts = await session.exec(select(Payout).where(col(Payout.business_key).like(f"redemption:{_id(run)}:%")))
        per_member: dict[int, int] = defaultdict(int)
        for line in lines:
            per_member[line.member_id] += line.amount_cents
        assert {p.member_id: p.amount_cents for p in payouts.all()} == per_member
        assert await ledger.balance_of(session, chart.PAYOUTS_PAYABLE) == redeemed
        await _assert_retained_equity_is_its_lots(session)
    finally:
        await savepoint.rollback()


# Faces from a few values, so that remainders, outstanding amounts and member numbers tie often.
tied_rows = st.lists(
    st.tuples(
        st.integers(0, 3), st.integers(2016, 2020), st.sampled_from([1, 2, 3, 7, 10, 333, 9_999]), st.integers(0, 10)
    ),
    min_size=1,
    max_size=16,
)


@DB_SETTINGS
@given(rows=lot_rows | tied_rows, budget=budgets | st.integers(0, 40))
# Remainders tie: the cent goes to the larger outstanding, then the lower member number, then the lower lot id.
@example(rows=[(0, 2018, 1, 0), (1, 2018, 2, 0), (2, 2018, 3, 0)], budget=3)
@example(rows=[(1, 2018, 3, 0), (0, 2018, 3, 0), (2, 2017, 5, 0)], budget=6)
@example(rows=[(0, 2018, 3, 0), (0, 2018, 3, 0)], budget=1)
# Products past BIGINT (4e9 x 6e9): the split in NUMERIC.
@example(rows=[(0, 2018, 2_999_999_999, 0), (1, 2018, 3_000_000_001, 0), (2, 2019, 7, 0)], budget=4_000_000_003)
async def test_a_fifo_run_writes_exactly_the_lines_of_the_pure_rule(session, rows, budget):
    """The set-based FIFO computation in SQL against ``rules.fifo_redemption`` over the same lots, cent for cent."""
    savepoint = await session.begin_nested()
    try:
        await _coop(session, rows)
        lots = await equity._lot_balances(session, up_to_year=AS_OF.year)
        expected = rules.fifo_redemption([lot.as_rule_lot() for lot in lots], budget)

        run = await equity.compute_run(
            session, method=equity.Method.FIFO, board_budget_cents=budget, as_of=AS_OF, inputs=None
        )
        lines = sorted(await _lines(session, _id(run)), key=lambda line: line.id or 0)

        assert [(line.lot_id, line.amount_cents) for line in lines] == expected
        by_id = {lot.lot_id: lot for lot in lots}
        assert all(
            (line.member_id, line.member_number, line.fiscal_year, line.qualified)
            == (
                by_id[line.lot_id].member_id,
                by_id[line.lot_id].member_number,
                by_id[line.lot_id].fiscal_year,
                by_id[line.lot_id].qualified,
            )
            for line in lines
        )
        assert (run.line_count, run.member_count, run.redeemed_cents) == (
            len(expected),
            len({by_id[lot_id].member_id for lot_id, _ in expected}),
            sum(amount for _, amount in expected),
        )
        assert run.outstanding_cents == sum(lot.outstanding_cents for lot in lots)
    finally:
        await savepoint.rollback()


def _id(run: RedemptionRun) -> int:
    assert run.id is not None
    return run.id


def _amount(lines: list[RedemptionLine], lot_id: int) -> int:
    return sum(line.amount_cents for line in lines if line.lot_id == lot_id)


@DB_SETTINGS
@given(rows=lot_rows, first=budgets, second=budgets, methods=st.tuples(methods, methods))
async def test_two_runs_on_the_same_lots_never_redeem_a_lot_twice(session, rows, first, second, methods):
    savepoint = await session.begin_nested()
    try:
        await _coop(session, rows)
        before = await _outstanding(session)
        one = await equity.compute_run(session, method=methods[0], board_budget_cents=first, as_of=AS_OF, inputs=None)
        two = await equity.compute_run(session, method=methods[1], board_budget_cents=second, as_of=AS_OF, inputs=None)
        await equity.approve_run(session, _id(one), now=datetime.now(UTC))
        try:
            async with session.begin_nested():
                await equity.approve_run(session, _id(two), now=datetime.now(UTC))
            approved_second = True
        except ConflictError:
            approved_second = False
        after = await _outstanding(session)
        assert all(out >= 0 for _, out in after.values())
        spent = sum(before[i][1] - after[i][1] for i in before)
        assert spent == one.redeemed_cents + (two.redeemed_cents if approved_second else 0)
        # The second run is refused exactly when a lot it counted on has less left after the first.
        left_after_first = {i: out + _amount(await _lines(session, _id(two)), i) for i, (_, out) in after.items()}
        if not approved_second:
            left_after_first = {i: out for i, (_, out) in after.items()}
        short = any(left_after_first[ln.lot_id] < ln.amount_cents for ln in await _lines(session, _id(two)))
        assert short == (not approved_second)
    finally:
        await savepoint.rollback()


# --- concurrent approvals, on real connections and real COMMITs -------------------
#
# Committed rows cannot be rolled back (the journal is append-only), and runs read every
# outstanding lot, so these run in a scratch database of their own, dropped afterwards.

SCRATCH = "coop_redemption_concurrency"


@pytest.fixture(scope="module")
def scratch_url(stack) -> Iterator[str]:
    with migrated_database(stack.database_url, SCRATCH) as url:
        yield url


async def test_concurrent_approvals_post_once_and_special_redemptions_never_double_redeem(scratch_url):
    engine = make_engine(scratch_url, pool_size=6)
    maker = make_session_maker(engine)
    try:
        async with maker() as s:
            await _coop(s, [(0, 2018, 10_000, 0), (1, 2018, 6_000, 0), (2, 2019, 9_000, 3), (3, 2019, 4_000, 0)])
            await s.commit()
            run = await equity.compute_run(
                s, method=equity.Method.FIFO, board_budget_cents=20_000, as_of=AS_OF, inputs=None
            )
            await s.commit()
            lines = await _lines(s, _id(run))
            member_ids = sorted({line.member_id for line in lines})

        async def approve() -> str:
            async with maker() as s:
                posted = await equity.approve_run(s, _id(run), now=datetime.now(UTC))
                await s.commit()
                return posted.status

        assert await asyncio.gather(*(approve() for _ in range(6))) == ["posted"] * 6
        async with maker() as s:
            keys = await s.execute(
                sa.select(sa.func.count())
                .select_from(JournalEntry)
                .where(col(JournalEntry.idempotency_key).like(f"redemption:{_id(run)}:%"))
            )
            assert keys.scalar_one() == 1  # the run is one entry, whatever its number of lines
            payouts = (
                await s.exec(select(Payout).where(col(Payout.business_key).like(f"redemption:{_id(run)}:%")))
            ).all()
            assert sorted(p.member_id for p in payouts) == member_ids
            assert await ledger.balance_of(s, chart.PAYOUTS_PAYABLE) == 20_000
            second = await equity.compute_run(
                s, method=equity.Method.PERCENTAGE, board_budget_cents=5_000, as_of=AS_OF, inputs=None
            )
            await s.commit()
            target = next(line.member_id for line in await _lines(s, _id(second)))

        async def approve_second() -> str:
            async with maker() as s:
                try:
                    await equity.approve_run(s, _id(second), now=datetime.now(UTC))
                except ConflictError:
                    return "stale"
                await s.commit()
                return "posted"

        async def special() -> str:
            async with maker() as s:
                terms = equity.SpecialTerms(equity.Reason.DEATH, Decimal("0.05"), 7, AS_OF)
                await equity.special_redemption(s, target, terms)
                await s.commit()
                return "special"

        outcomes = await asyncio.gather(approve_second(), special())
        assert outcomes[1] == "special"
        async with maker() as s:
            left = await _outstanding(s)
            assert all(out >= 0 for _, out in left.values())
            assert all(left[lot_id][1] == 0 for lot_id in await _lots_of(s, target))  # all redeemed, once
            await _assert_retained_equity_is_its_lots(s)
            assert outcomes[0] in {"posted", "stale"}
            special_entries = await s.execute(
                sa.select(sa.func.count())
                .select_from(JournalEntry)
                .where(col(JournalEntry.idempotency_key).like(f"special_redemption:{target}:%"))
            )
            assert special_entries.scalar_one() == len(await _lots_of(s, target))
    finally:
        await engine.dispose()


async def _lots_of(session, member_id: int) -> set[int]:
    result = await session.exec(select(EquityLot.id).where(col(EquityLot.member_id) == member_id))
    return {i for i in result.all() if i is not None}


async def test_approval_takes_no_members_row(scratch_url):
    """A member's change in progress (its row held FOR UPDATE) does not hold up a run's approval, nor it the change.

    The payouts' member key is checked per statement (0033) and a member is never deleted, so
    approval has no key lock to take; before, it took FOR KEY SHARE on every member of the run.
    """
    engine = make_engine(scratch_url, pool_size=2)
    maker = make_session_maker(engine)
    try:
        async with maker() as s:
            await _coop(s, [(0, 2018, 10_000, 0), (1, 2018, 6_000, 0)])
            await s.commit()
            run = await equity.compute_run(
                s, method=equity.Method.FIFO, board_budget_cents=12_000, as_of=AS_OF, inputs=None
            )
            await s.commit()
            held = (await _lines(s, _id(run)))[0].member_id
        async with maker() as changing, maker() as approving:
            await membership.locked(changing, held)  # as a status change or an exit holds it
            await approving.execute(sa.text("SET LOCAL lock_timeout = '5s'"))  # fails here if approval waited
            posted = await equity.approve_run(approving, _id(run), now=datetime.now(UTC))
            await approving.commit()
            await changing.commit()
        assert posted.status == "posted"
    finally:
        await engine.dispose()
