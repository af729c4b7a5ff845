"""Approving a run: post it once to the ledger, set-based, so 100k members take a few statements.

The run's allocation to members is ONE journal entry (`allocation:<run>:members`), as it is
one movement: the year's income summary is debited once with the total allocated; credited
once each are the retained equity account with the members' retained parts (each member's
part is its new equity lot, the account's subsidiary ledger), the payouts payable with the
run's cash less loan repayments (each member's part is its pending payout row), and each
repaid membership share with its repayment. Payouts are keyed `allocation:<run>:<member>`;
a lot names the entry, whose key names the run (migration 0042). Funds and the unallocated
remainder, non-patronage income and losses are one entry each beside it.
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
    """Every entry of a run starts with this idempotency key, and so do its payouts' keys."""
    return f"allocation:{run_id}:"


def members_key(run_id: int) -> str:
    """The idempotency key of the run's one entry allocating to its members."""
    return f"{key_prefix(run_id)}members"


_SHARE_ACCOUNTS = sa.text("""
INSERT INTO ledger_account (code, name, kind, member_id, created_at)
SELECT :member_prefix || member_id || :share_suffix, 'Membership share', 'equity', member_id, now()
  FROM allocation_line WHERE run_id = :run AND loan_deduction_cents > 0
ON CONFLICT (code) DO NOTHING
""")

# Every member's retained lot, the payouts and the run's one journal entry with its postings, in
# one statement. The lots are the subsidiary ledger of the retained equity account (migration
# 0041): each carries its face and the entry, and the entry credits the account once with their
# sum, taken from the same lines, so the control account and its lots agree by construction. An
# account and a posting per lot were half of approval's time (docs/performance.md, part 39).
# The parent rows (the entry) are inserted by a CTE of the same statement, so the references
# (checked at its end) see them. Approval runs once per run (its status, under the run's lock),
# so no lot or entry of this run exists yet. A share account may exist from before, so it is
# looked up by its code. One entry, not one a member: one balance check at commit instead of
# one per member. The payouts are written from the same lines as the payable's one credit, so
# the credit is their sum by construction; a plain INSERT, not ON CONFLICT DO NOTHING: a payout
# of this run cannot exist yet, and if one did, skipping it silently would leave the payable
# credited for a payout that is not there (and speculative insertion cost a third of the
# payouts' insert).
_POST_LINES = sa.text("""
WITH line AS MATERIALIZED (
  SELECT member_id, qualified, allocation_cents, retained_cents, cash_cents - loan_deduction_cents AS paid_cents,
         loan_deduction_cents
    FROM allocation_line
   WHERE run_id = :run AND allocation_cents > 0
),
total AS MATERIALIZED (
  SELECT sum(allocation_cents) AS allocated_cents,
         coalesce(sum(retained_cents), 0) AS retained_cents,
         coalesce(sum(paid_cents) FILTER (WHERE paid_cents > 0), 0) AS paid_cents
    FROM line
),
entry AS MATERIALIZED (
  INSERT INTO journal_entry (kind, memo, occurred_at, recorded_at, idempotency_key)
  SELECT 'patronage_allocation', :memo, :occurred, now(), :key FROM total WHERE allocated_cents > 0
  RETURNING id
),
lot AS (
  INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, created_at)
  SELECT line.member_id, CAST(:fy AS integer), 'retained_patronage', line.qualified, line.retained_cents, entry.id,
         now()
    FROM entry CROSS JOIN line WHERE line.retained_cents > 0
),
payout AS (
  INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)
  SELECT member_id, 'patronage_cash', paid_cents, 'pending', :prefix || member_id, now()
    FROM line WHERE paid_cents > 0
)
INSERT INTO posting (entry_id, account_id, side, amount_cents)
SELECT entry.id, CAST(:summary AS bigint), 'debit', total.allocated_cents FROM entry CROSS JOIN total
UNION ALL
SELECT entry.id, CAST(:retained AS bigint), 'credit', total.retained_cents FROM entry CROSS JOIN total
 WHERE total.retained_cents > 0
UNION ALL
SELECT entry.id, CAST(:payable AS bigint), 'credit', total.paid_cents FROM entry CROSS JOIN total
 WHERE total.paid_cents > 0
UNION ALL
SELECT entry.id, share.id, 'credit', line.loan_deduction_cents
  FROM entry CROSS JOIN line
  JOIN ledger_account share ON share.code = :member_prefix || line.member_id || :share_suffix
 WHERE line.loan_deduction_cents > 0
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
        "share_suffix": chart.SHARE_SUFFIX,
    }
    summary = await ledger.account_id(session, chart.income_summary(run.fiscal_year))
    payable = await ledger.account_id(session, chart.PAYOUTS_PAYABLE)
    retained = await ledger.account_id(session, chart.RETAINED_EQUITY)
    await session.execute(_SHARE_ACCOUNTS, params)
    await session.execute(
        _POST_LINES,
        params
        | {
            "memo": f"patronage allocation FY{run.fiscal_year}",
            "key": members_key(run.id),
            "occurred": occurred,
            "summary": summary,
            "payable": payable,
            "retained": retained,
        },
    )
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
