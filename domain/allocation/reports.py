"""What a posted run shows staff and members: reconciliation, notices, Form 1099-PATR data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from domain.allocation.posting import key_prefix
from domain.allocation.rules import AllocationRunStatus, CashExplained
from domain.allocation.service import posted_run
from domain.allocation.tables import AllocationLine, AllocationRun
from domain.errors import NotFoundError
from domain.ledger import chart
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.membership.tables import Member
from domain.patronage.rules import Form1099PatrRow, PatronagePayment, PatronagePaymentKind, form_1099_patr_rows
from domain.payments.tables import Payout

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.settings import CoopIdentity


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """A fiscal year's allocation as the ledger records it, against the margin staff entered.

    `cash` explains where the allocated cash went (applied to shares, set off, paid,
    still owed, void); non-patronage income and losses are posted by the run but are
    not part of the margin allocated, so they are stated beside it.
    """

    fiscal_year: int
    run_id: int | None
    net_margin_cents: int
    cash_cents: int
    retained_cents: int
    funds_cents: int
    unallocated_cents: int
    payouts: dict[str, int]
    cash: CashExplained
    nonpatronage_income_cents: int = 0
    loss_cents: int = 0

    @property
    def total_cents(self) -> int:
        """Everything the ledger says was distributed."""
        return self.cash_cents + self.retained_cents + self.funds_cents + self.unallocated_cents

    @property
    def difference_cents(self) -> int:
        """Zero when the books agree with the margin, to the cent."""
        return self.net_margin_cents - self.total_cents

    @property
    def balanced(self) -> bool:
        """A run was posted, its parts add up to the margin and every cent of its cash is accounted for."""
        return self.run_id is not None and self.difference_cents == 0 and self.cash.unexplained_cents == 0

    @property
    def status(self) -> str:
        """`no_run` when the year has no posted run; else `balanced` or `unbalanced`."""
        if self.run_id is None:
            return "no_run"
        return "balanced" if self.balanced else "unbalanced"


def _category(code: str) -> str | None:
    if code == chart.PAYOUTS_PAYABLE.code or chart.is_member_share(code):
        return "cash"  # a membership-loan repayment is cash applied to the member's share
    if chart.is_retained_equity(code):
        return "retained"
    if chart.is_fund(code):
        return "funds"
    if code == chart.UNALLOCATED_EQUITY.code:
        return "unallocated"
    return None


async def reconciliation(session: AsyncSession, fiscal_year: int) -> Reconciliation:
    """Sum the posted run's credits by destination straight from the postings."""
    run = await posted_run(session, fiscal_year)
    if run is None or run.id is None:
        return Reconciliation(fiscal_year, None, 0, 0, 0, 0, 0, {}, CashExplained(0, 0, 0, 0, 0, 0, 0, 0))
    rows = (
        await session.execute(
            sa.select(col(Account.code), sa.func.sum(col(Posting.amount_cents)))
            .join(Posting, col(Posting.account_id) == col(Account.id))
            .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
            .where(
                col(JournalEntry.idempotency_key).startswith(key_prefix(run.id)),
                col(JournalEntry.kind).in_(["patronage_allocation", "patronage_retained_by_coop"]),
                col(Posting.side) == "credit",
            )
            .group_by(col(Account.code))
        )
    ).all()
    sums = {"cash": 0, "retained": 0, "funds": 0, "unallocated": 0}
    for code, amount in rows:
        if (category := _category(code)) is not None:
            sums[category] += int(amount)
    payouts = dict(
        (
            await session.execute(
                sa.select(col(Payout.status), sa.func.sum(col(Payout.amount_cents)))
                .where(col(Payout.business_key).startswith(key_prefix(run.id)))
                .group_by(col(Payout.status))
            )
        ).all()
    )
    margin = sum(max(int(p["net_margin_cents"]), 0) for p in run.request["pools"])
    by_kind = dict(
        (
            await session.execute(
                sa.select(col(JournalEntry.kind), sa.func.sum(col(Posting.amount_cents)))
                .join(Posting, col(Posting.entry_id) == col(JournalEntry.id))
                .where(
                    col(JournalEntry.idempotency_key).startswith(key_prefix(run.id)),
                    col(JournalEntry.kind).in_(["nonpatronage_income", "patronage_loss"]),
                    col(Posting.side) == "credit",
                )
                .group_by(col(JournalEntry.kind))
            )
        ).all()
    )
    return Reconciliation(
        fiscal_year,
        run.id,
        margin,
        sums["cash"],
        sums["retained"],
        sums["funds"],
        sums["unallocated"],
        {status: int(total) for status, total in payouts.items()},
        await _cash_explained(session, run.id, sums["cash"]),
        int(by_kind.get("nonpatronage_income", 0)),
        int(by_kind.get("patronage_loss", 0)),
    )


async def _cash_explained(session: AsyncSession, run_id: int, cash_cents: int) -> CashExplained:
    """Where the run's cash went: applied to shares at posting, then each payout's set-offs and status.

    A payout shrinks by each partial set-off, and one settled wholly by set-off is
    `paid` by method `set_off`: so set-offs are summed from the events, and `paid`
    counts only payouts paid by another method.
    """
    row = (
        await session.execute(
            sa.text("""
            WITH po AS (
              SELECT p.id, p.status, p.method, p.amount_cents,
                     coalesce((SELECT sum(e.amount_cents) FROM payout_event e
                                JOIN journal_entry je ON je.id = e.entry_id
                               WHERE e.payout_id = p.id AND je.kind = 'set_off'), 0) AS set_off_cents
                FROM payout p
               WHERE p.business_key LIKE :prefix || '%' AND p.kind = 'patronage_cash'
            )
            SELECT
              (SELECT coalesce(sum(loan_deduction_cents), 0) FROM allocation_line WHERE run_id = :run),
              coalesce(sum(set_off_cents), 0),
              coalesce(sum(amount_cents) FILTER (WHERE status = 'paid' AND method IS DISTINCT FROM 'set_off'), 0),
              coalesce(sum(amount_cents) FILTER (WHERE status = 'pending'), 0),
              coalesce(sum(amount_cents) FILTER (WHERE status = 'unclaimed'), 0),
              coalesce(sum(amount_cents) FILTER (WHERE status = 'failed'), 0),
              coalesce(sum(amount_cents) FILTER (WHERE status = 'void'), 0)
              FROM po
            """),
            {"prefix": key_prefix(run_id), "run": run_id},
        )
    ).one()
    return CashExplained(cash_cents, *(int(v) for v in row))


@dataclass(frozen=True, slots=True)
class Notice:
    """The written notice of allocation a member receives (IRC §1388(b))."""

    run: AllocationRun
    line: AllocationLine
    member_name: str


async def notice(session: AsyncSession, run_id: int, member_id: int) -> Notice:
    """The member's notice from a posted run (404 when the member has none in it)."""
    run = await session.get(AllocationRun, run_id)
    if run is None or run.status != AllocationRunStatus.POSTED:
        raise NotFoundError(f"no posted allocation run {run_id}")
    line = (
        await session.exec(
            select(AllocationLine).where(
                col(AllocationLine.run_id) == run_id, col(AllocationLine.member_id) == member_id
            )
        )
    ).one_or_none()
    member = await session.get(Member, member_id)
    if line is None or member is None or line.allocation_cents == 0:
        raise NotFoundError(f"member {member_id} has no allocation in run {run_id}")
    return Notice(run, line, member.name)


@dataclass(frozen=True, slots=True)
class Form1099PatrLine:
    """One recipient's boxes, and how much of box 1 was cash applied to the membership share (a loan)."""

    row: Form1099PatrRow[int]
    applied_to_share_cents: int


async def form_1099_patr(session: AsyncSession, calendar_year: int) -> list[Form1099PatrLine]:
    """Box 1 (cash paid and qualified notices) and box 5 (non-qualified redemptions) per recipient.

    Cash counts when it reached the member: a payout marked paid (in the year it was
    paid, once however often it was reissued), what was set off against the member's
    debt, and what was applied to the membership share on the payment date. A pending,
    failed, unclaimed or void payout is not money paid.
    """
    payments: list[PatronagePayment[int]] = []
    applied: dict[int, int] = {}
    lines = await session.execute(
        sa.select(
            col(AllocationLine.member_number),
            col(AllocationLine.member_id),
            col(AllocationLine.retained_cents),
            col(AllocationLine.loan_deduction_cents),
            col(AllocationLine.qualified),
            col(AllocationRun.payment_date),
        )
        .join(AllocationRun, col(AllocationRun.id) == col(AllocationLine.run_id))
        .where(
            col(AllocationRun.status) == AllocationRunStatus.POSTED.value,
            col(AllocationRun.payment_date) >= date(calendar_year, 1, 1),
            col(AllocationRun.payment_date) <= date(calendar_year, 12, 31),
            col(AllocationLine.allocation_cents) > 0,
        )
    )
    for number, member_id, retained, to_share, qualified, paid_on in lines:
        if to_share:
            payments.append(PatronagePayment(number, member_id, PatronagePaymentKind.PATRONAGE_CASH, to_share, paid_on))
            applied[member_id] = applied.get(member_id, 0) + to_share
        if retained:
            kind = PatronagePaymentKind.QUALIFIED_NOTICE if qualified else PatronagePaymentKind.NONQUALIFIED_NOTICE
            payments.append(PatronagePayment(number, member_id, kind, retained, paid_on))
    payments += await _patronage_cash_paid(session, calendar_year)
    payments += await _redemptions_paid(session, calendar_year)
    return [
        Form1099PatrLine(row, applied.get(row.member_key, 0)) for row in form_1099_patr_rows(payments, calendar_year)
    ]


async def _patronage_cash_paid(session: AsyncSession, calendar_year: int) -> list[PatronagePayment[int]]:
    """Patronage cash that reached members in the year: paid payouts and set-offs of still-open ones.

    A paid payout's original amount is its current amount plus what partial set-offs
    took off it earlier (each a pending -> pending event); a payout that is not paid
    counts only its set-offs, which did settle the member's debt.
    """
    rows = await session.execute(
        sa.text("""
        WITH set_offs AS (
          SELECT e.payout_id, e.amount_cents, e.occurred_at
            FROM payout_event e
           WHERE e.from_status = 'pending' AND e.to_status = 'pending' AND e.entry_id IS NOT NULL
        ), paid AS (
          SELECT po.member_id, po.amount_cents + coalesce(
                   (SELECT sum(s.amount_cents) FROM set_offs s WHERE s.payout_id = po.id), 0) AS amount_cents,
                 po.paid_at AS paid_at
            FROM payout po
           WHERE po.kind = 'patronage_cash' AND po.status = 'paid'
          UNION ALL
          SELECT po.member_id, s.amount_cents, s.occurred_at
            FROM payout po JOIN set_offs s ON s.payout_id = po.id
           WHERE po.kind = 'patronage_cash' AND po.status <> 'paid'
        )
        SELECT m.member_number, m.id, sum(p.amount_cents), max(p.paid_at)::date
          FROM paid p JOIN member m ON m.id = p.member_id
         WHERE p.paid_at >= make_date(:y, 1, 1) AND p.paid_at < make_date(:y + 1, 1, 1)
         GROUP BY m.member_number, m.id
        """),
        {"y": calendar_year},
    )
    return [
        PatronagePayment(number, member_id, PatronagePaymentKind.PATRONAGE_CASH, int(amount), paid_on)
        for number, member_id, amount, paid_on in rows
    ]


async def _redemptions_paid(session: AsyncSession, calendar_year: int) -> list[PatronagePayment[int]]:
    """Equity redemptions paid in the year, split by whether the redeemed lots were qualified."""
    rows = await session.execute(
        sa.text("""
        WITH redeemed AS (
          -- A special redemption's entry redeems one lot: its debit less any discount kept by the
          -- co-op (at present value the discount is credited to unallocated equity).
          SELECT je.idempotency_key,
                 max(l.member_id) AS member_id, bool_and(l.qualified) AS qualified,
                 sum(CASE WHEN l.id IS NOT NULL AND p.side = 'debit' THEN p.amount_cents ELSE 0 END)
                 - sum(CASE WHEN a.code = :unallocated AND p.side = 'credit'
                            THEN p.amount_cents ELSE 0 END) AS amount_cents
            FROM journal_entry je
            JOIN posting p ON p.entry_id = je.id
            JOIN ledger_account a ON a.id = p.account_id
            LEFT JOIN equity_lot l ON l.id = p.equity_lot_id
           WHERE je.kind = 'special_redemption'
           GROUP BY je.id, je.idempotency_key
          UNION ALL
          -- A redemption run's entry debits many members' lots at face: per member and kind of lot.
          SELECT je.idempotency_key, l.member_id, l.qualified, sum(p.amount_cents)
            FROM journal_entry je
            JOIN posting p ON p.entry_id = je.id AND p.side = 'debit'
            JOIN equity_lot l ON l.id = p.equity_lot_id
           WHERE je.kind = 'equity_redemption'
           GROUP BY je.id, je.idempotency_key, l.member_id, l.qualified
        )
        SELECT m.member_number, m.id, r.qualified, sum(r.amount_cents), max(po.paid_at)::date
          FROM redeemed r
          JOIN member m ON m.id = r.member_id
          JOIN payout po ON po.member_id = m.id AND po.kind = 'equity_redemption' AND po.status = 'paid'
               AND r.idempotency_key LIKE
                   split_part(po.business_key, ':', 1) || ':' || split_part(po.business_key, ':', 2) || ':%'
         WHERE po.paid_at >= make_date(:y, 1, 1) AND po.paid_at < make_date(:y + 1, 1, 1)
         GROUP BY m.member_number, m.id, r.qualified
        """),
        {"y": calendar_year, "unallocated": chart.UNALLOCATED_EQUITY.code},
    )
    return [
        PatronagePayment(
            number,
            member_id,
            PatronagePaymentKind.QUALIFIED_REDEMPTION if qualified else PatronagePaymentKind.NONQUALIFIED_REDEMPTION,
            int(amount),
            paid_on,
        )
        for number, member_id, qualified, amount, paid_on in rows
    ]


QUALIFIED_MEANING = (
    "This is a qualified written notice of allocation: you consented to take it into account. "
    "The whole allocation, cash and retained, is income for the tax year in which you receive this "
    "notice (Form 1099-PATR box 1). When the co-op later redeems the retained part, that payment is "
    "not taxed again."
)
NONQUALIFIED_MEANING = (
    "This is a non-qualified written notice of allocation. Only the cash is income to you now "
    "(Form 1099-PATR box 1). The retained part is not income until the co-op redeems it; the "
    "redemption is taxable then (Form 1099-PATR box 5)."
)


def notice_json(n: Notice, coop: CoopIdentity) -> dict[str, Any]:
    """Every figure and statement the written notice must carry.

    The allocation is cash + retained; of the cash, part may be applied to the
    member's unpaid membership share and the rest is paid to the member. The notice is
    dated the payment date, which is within the payment period.
    """
    totals = n.run.totals or {}
    line = n.line
    return {
        "run_id": str(n.run.id),
        "fiscal_year": n.run.fiscal_year,
        "notice_date": n.run.payment_date.isoformat(),
        "coop": {
            "name": coop.name,
            "address_lines": list(coop.address_lines),
            "tax_id": coop.tax_id,
            "contact": coop.contact,
        },
        "member_id": str(line.member_id),
        "member_number": line.member_number,
        "member_name": n.member_name,
        "patronage_cents": line.patronage_cents,
        "stated_allocation_cents": line.allocation_cents,
        "patronage_portion_cents": line.allocation_cents,
        "cash_cents": line.cash_cents,
        "retained_cents": line.retained_cents,
        "cash": {
            "total_cents": line.cash_cents,
            "applied_to_membership_share_cents": line.loan_deduction_cents,
            "paid_cents": line.cash_cents - line.loan_deduction_cents,
        },
        "qualified": line.qualified,
        "qualified_meaning": QUALIFIED_MEANING if line.qualified else NONQUALIFIED_MEANING,
        "payment_date": n.run.payment_date.isoformat(),
        "payment_period_end": totals.get("payment_period_end"),
    }
