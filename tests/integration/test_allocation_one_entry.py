"""Approving a year-end run posts ONE journal entry for all its members (DESIGN.md: one movement, one entry).

The entry debits the year's income summary once (the total allocated) and credits each
member's new lot account (retained), payouts payable once (the run's payouts together; each
member's part is its payout row) and each membership share a loan repayment went to. Lots,
lot accounts and payouts stay per member.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime

import asyncpg
import sqlalchemy as sa
from sqlmodel import col, select

from domain.allocation import posting
from domain.allocation import service as allocation
from domain.allocation.tables import AllocationLine
from domain.db import make_session_maker
from domain.equity.statements import capital_account
from domain.equity.tables import EquityLot
from domain.ledger import chart
from domain.membership import imports
from domain.membership.rules import Status
from domain.patronage.tables import PatronageRecord

PAR = 10_000
FY = 2025
# Share paid in and patronage: two repay part of their share from the cash; one falls below the minimum.
MEMBERS = ((0, 900_000), (9_000, 700_000), (PAR, 400_000), (PAR, 300_000), (PAR, 900))
_tags = itertools.count()

COUNTED = ("journal_entry", "posting", "equity_lot", "payout", "ledger_account")


async def _computed_run(session) -> int:
    """Five members' patronage and a computed run over it; the run's id."""
    tag = f"one-entry-{next(_tags)}"
    made = await imports.import_members(
        session,
        [
            imports.MemberRow(
                f"{tag}-{i}",
                f"One entry {i}",
                f"{tag}-{i}@shop.test",
                datetime(2020, 1, 1, tzinfo=UTC),
                Status.FULL,
                paid,
                None,
            )
            for i, (paid, _) in enumerate(MEMBERS)
        ],
        par_cents=PAR,
    )
    for n, (member, (_, volume)) in enumerate(zip(made, MEMBERS, strict=True)):
        session.add(
            PatronageRecord(
                member_id=member.member_id,
                member_business=True,
                fiscal_year=FY,
                pool="purchases",
                amount_cents=volume,
                occurred_at=datetime(FY, 6, 30, tzinfo=UTC),
                source="import",
                external_ref=f"{tag}-{n}",
            )
        )
    await session.flush()
    run = await allocation.start(
        session,
        fiscal_year=FY,
        request={
            "fiscal_year": FY,
            "pools": [{"pool": "purchases", "net_margin_cents": 210_001}],
            "payment_date": "2026-03-15",
            "policy": {"profile": "us", "cash_rate": "0.60", "min_allocation_cents": 1_000},
        },
        payment_date=date(2026, 3, 15),
        actor=0,
        fiscal_year_start_month=1,
        today=date(2026, 3, 1),
    )
    computed = await allocation.compute(session, run.id or 0, fiscal_year_start_month=1)
    assert computed.status == "computed", computed.failure_reason
    return int(computed.id or 0)


_ENTRIES = sa.text("""
SELECT e.id, e.kind, e.idempotency_key, a.code, p.side, p.amount_cents
  FROM journal_entry e JOIN posting p ON p.entry_id = e.id JOIN ledger_account a ON a.id = p.account_id
 WHERE e.idempotency_key LIKE :prefix || '%' AND e.kind = 'patronage_allocation'
 ORDER BY p.id
""")


async def _counts(session) -> dict[str, int]:
    return {t: int((await session.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in COUNTED}  # noqa: S608


async def test_a_run_is_one_balanced_entry_its_lots_hold_retained_and_payable_its_payouts(session):
    run_id = await _computed_run(session)
    await posting.approve(session, run_id)

    rows = (await session.execute(_ENTRIES, {"prefix": posting.key_prefix(run_id)})).all()
    assert {(r.id, r.kind, r.idempotency_key) for r in rows} == {
        (rows[0].id, "patronage_allocation", posting.members_key(run_id))
    }
    lines = (await session.exec(select(AllocationLine).where(col(AllocationLine.run_id) == run_id))).all()
    allocated = [ln for ln in lines if ln.allocation_cents > 0]
    assert len(allocated) == 4  # the fifth is below the minimum: no notice, no lot, no payout
    debits = [(r.code, r.amount_cents) for r in rows if r.side == "debit"]
    assert debits == [(chart.income_summary(FY).code, sum(ln.allocation_cents for ln in allocated))]
    assert sum(r.amount_cents for r in rows if r.side == "credit") == debits[0][1]

    payouts = dict(
        (
            await session.execute(
                sa.text("SELECT member_id, amount_cents FROM payout WHERE business_key LIKE :prefix || '%'"),
                {"prefix": posting.key_prefix(run_id)},
            )
        ).all()
    )
    assert payouts == {ln.member_id: ln.cash_cents - ln.loan_deduction_cents for ln in allocated}
    payable = [r.amount_cents for r in rows if r.code == chart.PAYOUTS_PAYABLE.code]
    assert payable == [sum(payouts.values())]
    shares = {r.code: r.amount_cents for r in rows if chart.is_member_share(r.code)}
    repaid = {chart.member_share(ln.member_id).code: ln.loan_deduction_cents for ln in allocated}
    assert shares == {code: cents for code, cents in repaid.items() if cents > 0}
    assert len(shares) == 2

    retained = [r.amount_cents for r in rows if r.code == chart.RETAINED_EQUITY.code]
    assert retained == [sum(ln.retained_cents for ln in allocated)]
    for line in allocated:
        (lot,) = (await session.exec(select(EquityLot).where(col(EquityLot.member_id) == line.member_id))).all()
        assert lot.account_id is None  # in the retained equity account's subsidiary ledger
        assert (lot.face_cents, lot.entry_id) == (line.retained_cents, rows[0].id)
        (statement_lot,) = (await capital_account(session, line.member_id)).lots
        assert statement_lot.face_cents == line.retained_cents

    before = await _counts(session)
    await posting.approve(session, run_id)
    assert await _counts(session) == before


async def test_a_backend_killed_before_approvals_commit_leaves_nothing_and_approval_then_posts_once(
    committing_engine, own_database
):
    maker = make_session_maker(committing_engine)
    async with maker() as s:
        run_id = await _computed_run(s)
        await s.commit()
        before = await _counts(s)
    url = own_database.replace("postgresql+asyncpg://", "postgresql://")
    # The run's status is approval's last write (flushed at commit): hold it back once every
    # entry, lot and payout is written, then kill the backend, as a crash before COMMIT would.
    blocker = await asyncpg.connect(url)
    blocking = blocker.transaction()
    await blocking.start()
    await blocker.execute("LOCK TABLE allocation_run IN SHARE MODE")

    async def approve() -> None:
        async with maker() as s:
            await posting.approve(s, run_id)
            await s.commit()

    approving = asyncio.create_task(approve())
    waiting_pid = None
    for _ in range(600):
        waiting_pid = await blocker.fetchval(
            "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE NOT l.granted AND c.relname = 'allocation_run'"
        )
        if waiting_pid is not None or approving.done():
            break
        await asyncio.sleep(0.05)
    assert waiting_pid is not None, "approval never reached its status update"
    await blocker.fetchval("SELECT pg_terminate_backend($1)", waiting_pid)
    await blocking.rollback()
    await blocker.close()
    outcome = await asyncio.gather(approving, return_exceptions=True)
    assert isinstance(outcome[0], Exception)

    async with maker() as s:
        assert await _counts(s) == before
        status = (
            await s.execute(sa.text("SELECT status FROM allocation_run WHERE id = :r"), {"r": run_id})
        ).scalar_one()
        assert status == "computed"
    await approve()
    async with maker() as s:
        rows = (await s.execute(_ENTRIES, {"prefix": posting.key_prefix(run_id)})).all()
        assert len({r.id for r in rows}) == 1
        keys = (
            await s.execute(
                sa.text("SELECT idempotency_key FROM journal_entry WHERE idempotency_key LIKE :p || '%'"),
                {"p": posting.key_prefix(run_id)},
            )
        ).scalars()
        # The members' entry, and the co-op's (the fifth member's allocation below the minimum is unallocated).
        assert sorted(keys) == [f"{posting.key_prefix(run_id)}coop", posting.members_key(run_id)]
        after = await _counts(s)
        assert after["payout"] - before["payout"] == 4
        assert after["equity_lot"] - before["equity_lot"] == 4
