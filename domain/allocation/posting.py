"""Approving a run: post it once to the ledger, set-based, so 100k members take a few statements.

Per member with an allocation, one journal entry: the year's income summary is
debited; the member's new equity lot is credited with the retained part, the
payouts payable with the cash (less any membership-loan repayment, which goes to
the member's share), and a pending payout is created. Funds, the unallocated
remainder, non-patronage income and losses are one entry each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.allocation.margins import close_books
from domain.allocation.rules import AllocationRunStatus, check_run_transition
from domain.allocation.service import posted_run
from domain.allocation.tables import AllocationRun
from domain.db import utc_now
from domain.errors import ConflictError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


def key_prefix(run_id: int) -> str:
    """Every entry of a run starts with this idempotency key."""
    return f"allocation:{run_id}:"


_SHARE_ACCOUNTS = sa.text("""
INSERT INTO ledger_account (code, name, kind, member_id, created_at)
SELECT :member_prefix || member_id || :share_suffix, 'Membership share', 'equity', member_id, now()
  FROM allocation_line WHERE run_id = :run AND loan_deduction_cents > 0
ON CONFLICT (code) DO NOTHING
""")

# Every member's retained lot, its ledger account, its journal entry and the entry's postings in
# one statement. The ids are drawn first, per line, so each row is written with the ids it
# points to, and nothing is joined back through keys built as text (code, idempotency_key,
# source_key); those joins were a third of approval's time. The parent rows are inserted by
# the CTEs of the same statement, so the foreign keys (checked at its end) see them. Approval
# runs once per run (its status, under the run's lock), so no lot or entry of this run exists
# yet. A share account may exist from before, so it is still looked up by its code. The
# sequences are named once (seq): pg_get_serial_sequence per row reads the catalog each time
# (12 buffer hits a line, a tenth of the statement).
_POST_LINES = sa.text("""
WITH seq AS MATERIALIZED (
  SELECT CAST(pg_get_serial_sequence('journal_entry', 'id') AS regclass) AS entry,
         CAST(pg_get_serial_sequence('equity_lot', 'id') AS regclass) AS lot,
         CAST(pg_get_serial_sequence('ledger_account', 'id') AS regclass) AS account
),
line AS MATERIALIZED (
  SELECT member_id, qualified, allocation_cents, retained_cents, cash_cents, loan_deduction_cents,
         CASE WHEN allocation_cents > 0 THEN nextval(seq.entry) END AS entry_id,
         CASE WHEN retained_cents > 0 THEN nextval(seq.lot) END AS lot_id,
         CASE WHEN retained_cents > 0 THEN nextval(seq.account) END AS lot_account_id
    FROM allocation_line CROSS JOIN seq
   WHERE run_id = :run AND (allocation_cents > 0 OR retained_cents > 0)
),
account AS (
  INSERT INTO ledger_account (id, code, name, kind, member_id, created_at)
  SELECT lot_account_id, :member_prefix || member_id || :lot_infix || lot_id,
         'Retained equity FY' || CAST(:fy AS integer), 'equity', member_id, now()
    FROM line WHERE lot_id IS NOT NULL
),
lot AS (
  INSERT INTO equity_lot (id, member_id, fiscal_year, kind, qualified, source_key, account_id, created_at)
  SELECT lot_id, member_id, CAST(:fy AS integer), 'retained_patronage', qualified, :prefix || member_id,
         lot_account_id, now()
    FROM line WHERE lot_id IS NOT NULL
),
entry AS (
  INSERT INTO journal_entry (id, kind, memo, occurred_at, recorded_at, idempotency_key)
  SELECT entry_id, 'patronage_allocation', :memo, :occurred, now(), :prefix || member_id
    FROM line WHERE entry_id IS NOT NULL
)
INSERT INTO posting (entry_id, account_id, side, amount_cents)
SELECT entry_id, :summary, 'debit', allocation_cents FROM line WHERE entry_id IS NOT NULL
UNION ALL
SELECT entry_id, lot_account_id, 'credit', retained_cents FROM line
 WHERE entry_id IS NOT NULL AND retained_cents > 0
UNION ALL
SELECT entry_id, :payable, 'credit', cash_cents - loan_deduction_cents FROM line
 WHERE entry_id IS NOT NULL AND cash_cents - loan_deduction_cents > 0
UNION ALL
SELECT line.entry_id, share.id, 'credit', line.loan_deduction_cents
  FROM line JOIN ledger_account share ON share.code = :member_prefix || line.member_id || :share_suffix
 WHERE line.entry_id IS NOT NULL AND line.loan_deduction_cents > 0
""")

_PAYOUTS = sa.text("""
INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)
SELECT member_id, 'patronage_cash', cash_cents - loan_deduction_cents, 'pending', :prefix || member_id, now()
  FROM allocation_line WHERE run_id = :run AND cash_cents - loan_deduction_cents > 0
ON CONFLICT (business_key) DO NOTHING
""")


async def approve(
    session: AsyncSession, run_id: int, *, fiscal_year_start_month: int = 1, now: datetime | None = None
) -> AllocationRun:
    """Post the run once; approving a posted run again changes nothing.

    A run whose margins came from the books also closes them to the year's income summary.
    """
    run = (
        await session.exec(select(AllocationRun).where(col(AllocationRun.id) == run_id).with_for_update())
    ).one_or_none()
    if run is None:
        raise NotFoundError(f"allocation run {run_id} not found")
    if run.status == AllocationRunStatus.POSTED:
        return run
    check_run_transition(run.status, AllocationRunStatus.POSTED, run_id=run_id)
    if run.totals is None or run.id is None:
        raise ConflictError(f"allocation run {run_id} has no totals; only a computed run can be approved")
    other = await posted_run(session, run.fiscal_year)
    if other is not None:
        raise ConflictError(f"fiscal year {run.fiscal_year} was already allocated by run {other.id}")
    occurred = datetime.combine(run.payment_date, datetime.min.time(), tzinfo=UTC)
    params = {
        "run": run.id,
        "fy": run.fiscal_year,
        "prefix": key_prefix(run.id),
        "member_prefix": chart.MEMBER_CODE_PREFIX,
        "lot_infix": chart.EQUITY_LOT_INFIX,
        "share_suffix": chart.SHARE_SUFFIX,
    }
    summary = await ledger.account_id(session, chart.income_summary(run.fiscal_year))
    payable = await ledger.account_id(session, chart.PAYOUTS_PAYABLE)
    await session.execute(_SHARE_ACCOUNTS, params)
    await session.execute(
        _POST_LINES,
        params
        | {
            "memo": f"patronage allocation FY{run.fiscal_year}",
            "occurred": occurred,
            "summary": summary,
            "payable": payable,
        },
    )
    await session.execute(_PAYOUTS, params)
    await _post_coop_shares(session, run, summary, occurred)
    if run.margin_derivation:
        await close_books(
            session, run.fiscal_year, run.margin_derivation, fiscal_year_start_month=fiscal_year_start_month
        )
    run.status = AllocationRunStatus.POSTED.value
    run.posted_at = now or utc_now()
    session.add(run)
    return run


async def _post_coop_shares(session: AsyncSession, run: AllocationRun, summary: int, occurred: datetime) -> None:
    """Funds and the unallocated remainder; non-patronage income; a loss carried as a deficit."""
    assert run.totals is not None  # noqa: S101 - computed runs have totals
    assert run.id is not None  # noqa: S101
    totals = run.totals
    prefix = key_prefix(run.id)
    credits = [
        PostingLine(
            await ledger.account_id(session, chart.fund_account(f["name"])), Side.CREDIT, int(f["amount_cents"])
        )
        for f in totals["funds"]
        if int(f["amount_cents"]) > 0
    ]
    unallocated = await ledger.account_id(session, chart.UNALLOCATED_EQUITY)
    if int(totals["unallocated_cents"]) > 0:
        credits.append(PostingLine(unallocated, Side.CREDIT, int(totals["unallocated_cents"])))
    if credits:
        debit = PostingLine(summary, Side.DEBIT, sum(c.amount_cents for c in credits))
        await ledger.post_entry(
            session,
            kind="patronage_retained_by_coop",
            idempotency_key=f"{prefix}coop",
            occurred_at=occurred,
            lines=[debit, *credits],
            memo=f"funds and unallocated equity FY{run.fiscal_year}",
        )
    nonpatronage = int(run.request.get("nonpatronage_income_cents") or 0)
    if nonpatronage > 0:
        await ledger.post_entry(
            session,
            kind="nonpatronage_income",
            idempotency_key=f"{prefix}nonpatronage",
            occurred_at=occurred,
            lines=[PostingLine(summary, Side.DEBIT, nonpatronage), PostingLine(unallocated, Side.CREDIT, nonpatronage)],
            memo=f"non-patronage income FY{run.fiscal_year}: never allocated, taxable",
        )
    loss = int(totals["loss_cents"])
    if loss > 0:
        await ledger.post_entry(
            session,
            kind="patronage_loss",
            idempotency_key=f"{prefix}loss",
            occurred_at=occurred,
            lines=[PostingLine(unallocated, Side.DEBIT, loss), PostingLine(summary, Side.CREDIT, loss)],
            memo=f"pool losses FY{run.fiscal_year}, carried as a deficit in unallocated equity",
        )
