"""Suppliers' purchase reports: lines matched to members under a contract, held, matched or rejected.

A correction is checked against the spend it reduces, under the contract's row lock; the unique line per
contract and reference makes a retried report harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.membership.tables import Member
from domain.patronage import service as patronage
from domain.patronage.rules import is_member_business
from domain.programmes.contracts import any_id, find_contract
from domain.programmes.rules import (
    Holding,
    LineIn,
    LineStatus,
    MemberFacts,
    Period,
    ReportContext,
    check_line_transition,
    classify_lines,
    report_errors,
)
from domain.programmes.tables import (
    Claim,
    ContractMember,
    PurchaseLine,
    SupplierContract,
)
from domain.programmes.views import (
    LineView,
    ReportOutcome,
    Unmatched,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

_BATCH = 1000  # rows per INSERT: PostgreSQL takes at most 32767 parameters per statement
LINE_STILL_HELD = "purchase_line_still_held"


@dataclass(frozen=True, slots=True)
class _Known:
    member_id: int
    joined_at: datetime | None
    left_at: datetime | None


async def _context(
    session: AsyncSession, contract: SupplierContract, numbers: Sequence[int]
) -> tuple[ReportContext, dict[int, _Known]]:
    assert contract.id is not None  # noqa: S101 - loaded from the database
    rows = (
        await session.execute(
            sa.select(col(Member.id), col(Member.member_number), col(Member.joined_at), col(Member.left_at)).where(
                col(Member.member_number) == any_id(sorted(set(numbers)))
            )
        )
    ).all()
    known = {int(r.member_number): _Known(int(r.id), r.joined_at, r.left_at) for r in rows}
    eligible: set[int] = {k.member_id for k in known.values()}
    if not contract.all_members and eligible:
        listed = await session.execute(
            sa.select(col(ContractMember.member_id)).where(
                col(ContractMember.contract_id) == contract.id,
                col(ContractMember.member_id) == any_id(sorted(eligible)),
            )
        )
        eligible = {int(m) for (m,) in listed.all()}
    claimed = await session.execute(sa.select(col(Claim.period_start)).where(col(Claim.contract_id) == contract.id))
    spent_rows = await session.execute(
        sa.select(
            col(PurchaseLine.member_id), col(PurchaseLine.period_start), sa.func.sum(col(PurchaseLine.amount_cents))
        )
        .where(
            col(PurchaseLine.contract_id) == contract.id,
            col(PurchaseLine.status) == LineStatus.ACCEPTED.value,
            col(PurchaseLine.member_id) == any_id(sorted(k.member_id for k in known.values())),
        )
        .group_by(col(PurchaseLine.member_id), col(PurchaseLine.period_start))
    )
    context = ReportContext(
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        period=Period(contract.period),
        members={n: MemberFacts(k.member_id, n, eligible=k.member_id in eligible) for n, k in known.items()},
        claimed_periods=frozenset(d for (d,) in claimed.all()),
        spent={(int(m), d): int(s) for m, d, s in spent_rows.all()},
    )
    return context, known


def _line_row(contract_id: int, holding: Holding, now: datetime) -> dict[str, Any]:
    line = holding.line
    return {
        "contract_id": contract_id,
        "external_ref": line.external_ref,
        "member_number": line.member_number,
        "member_id": holding.member_id,
        "occurred_at": line.occurred_at,
        "amount_cents": line.amount_cents,
        "invoice_ref": line.invoice_ref,
        "status": (LineStatus.ACCEPTED if holding.accepted else LineStatus.UNMATCHED).value,
        "reason": None if holding.reason is None else holding.reason.value,
        "period_start": holding.period_start if holding.accepted else None,
        "decided_at": now if holding.accepted else None,
    }


async def _record_patronage(
    session: AsyncSession,
    contract: SupplierContract,
    accepted: Sequence[tuple[int, Holding]],
    known: dict[int, _Known],
    *,
    fiscal_year_start_month: int,
) -> None:
    purchases = []
    for line_id, holding in accepted:
        member = known[holding.line.member_number]
        purchases.append(
            patronage.DirectPurchase(
                line_id=line_id,
                member_id=member.member_id,
                member_business=is_member_business(member.joined_at, member.left_at, holding.line.occurred_at),
                pool=contract.pool,
                amount_cents=holding.line.amount_cents,
                occurred_at=holding.line.occurred_at,
            )
        )
    await patronage.record_direct_purchases(session, purchases, fiscal_year_start_month=fiscal_year_start_month)


async def report_purchases(
    session: AsyncSession,
    contract_id: int,
    lines: Sequence[LineIn],
    *,
    only_supplier_id: int | None,
    now: datetime,
    fiscal_year_start_month: int,
) -> ReportOutcome:
    """Record a supplier's report: accepted lines become patronage, others are held, repeats are skipped."""
    contract = await find_contract(session, contract_id, only_supplier_id=only_supplier_id, lock=True)
    errors = report_errors(lines)
    if errors:
        raise InvalidInputError("the report is not valid", errors)
    seen: set[str] = set()
    fresh: list[LineIn] = []
    for line in lines:
        if line.external_ref not in seen:
            seen.add(line.external_ref)
            fresh.append(line)
    stored = await session.execute(
        sa.select(col(PurchaseLine.external_ref)).where(
            col(PurchaseLine.contract_id) == contract_id,
            col(PurchaseLine.external_ref) == sa.any_(sa.literal(sorted(seen), ARRAY(sa.String))),
        )
    )
    already = {ref for (ref,) in stored.all()}
    fresh = [line for line in fresh if line.external_ref not in already]
    context, known = await _context(session, contract, [line.member_number for line in fresh])
    holdings = classify_lines(fresh, context)
    by_ref = {h.line.external_ref: h for h in holdings}
    written: list[tuple[int, Holding]] = []
    for start in range(0, len(holdings), _BATCH):
        result = await session.execute(
            insert(PurchaseLine)
            .values([_line_row(contract_id, h, now) for h in holdings[start : start + _BATCH]])
            .on_conflict_do_nothing(index_elements=["contract_id", "external_ref"])
            .returning(col(PurchaseLine.id), col(PurchaseLine.external_ref))
        )
        written += [(int(i), by_ref[ref]) for i, ref in result.all()]
    await _record_patronage(
        session,
        contract,
        [(i, h) for i, h in written if h.accepted],
        known,
        fiscal_year_start_month=fiscal_year_start_month,
    )
    return ReportOutcome(
        accepted=sum(1 for _, h in written if h.accepted),
        duplicates=len(lines) - len(written),
        unmatched=tuple(Unmatched(h.line.external_ref, str(h.reason)) for _, h in written if not h.accepted),
    )


def line_view(line: PurchaseLine) -> LineView:
    """A purchase line as the API shows it."""
    assert line.id is not None  # noqa: S101 - loaded from the database
    return LineView(
        id=line.id,
        contract_id=line.contract_id,
        external_ref=line.external_ref,
        member_number=line.member_number,
        member_id=line.member_id,
        occurred_at=line.occurred_at,
        amount_cents=line.amount_cents,
        invoice_ref=line.invoice_ref,
        status=line.status,
        reason=line.reason,
        period_start=line.period_start,
        recorded_at=line.recorded_at,
    )


async def line_page(
    session: AsyncSession,
    contract_id: int,
    *,
    only_supplier_id: int | None,
    status: LineStatus | None,
    after_id: int,
    limit: int,
) -> list[LineView]:
    """A contract's reported lines in id order, optionally of one status."""
    await find_contract(session, contract_id, only_supplier_id=only_supplier_id)
    query = select(PurchaseLine).where(col(PurchaseLine.contract_id) == contract_id, col(PurchaseLine.id) > after_id)
    if status is not None:
        query = query.where(col(PurchaseLine.status) == status.value)
    rows = (await session.exec(query.order_by(col(PurchaseLine.id)).limit(limit))).all()
    return [line_view(r) for r in rows]


async def _held_line(session: AsyncSession, line_id: int) -> tuple[SupplierContract, PurchaseLine]:
    found = await session.get(PurchaseLine, line_id)
    if found is None:
        raise NotFoundError(f"purchase line {line_id} not found")
    contract = await find_contract(session, found.contract_id, only_supplier_id=None, lock=True)
    line = (
        await session.exec(
            select(PurchaseLine)
            .where(col(PurchaseLine.id) == line_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return contract, line


async def match_line(
    session: AsyncSession, line_id: int, *, member_number: int, now: datetime, fiscal_year_start_month: int
) -> LineView:
    """Staff match a held line to a member: it is accepted as patronage, or stays held (409 with the reason)."""
    contract, line = await _held_line(session, line_id)
    check_line_transition(line.status, LineStatus.ACCEPTED, line_id=line_id)
    held = LineIn(line.external_ref, member_number, line.occurred_at, line.amount_cents, line.invoice_ref)
    context, known = await _context(session, contract, [member_number])
    (holding,) = classify_lines([held], context)
    if not holding.accepted:
        msg = f"purchase line {line_id} cannot be accepted: {holding.reason}"
        raise ConflictError(msg, code=LINE_STILL_HELD)
    line.member_number = member_number
    line.member_id = holding.member_id
    line.status = LineStatus.ACCEPTED.value
    line.reason = None
    line.period_start = holding.period_start
    line.decided_at = now
    session.add(line)
    await session.flush()
    await _record_patronage(
        session, contract, [(line_id, holding)], known, fiscal_year_start_month=fiscal_year_start_month
    )
    return line_view(line)


async def reject_line(session: AsyncSession, line_id: int, *, now: datetime) -> LineView:
    """Staff reject a held line: kept, never patronage."""
    _, line = await _held_line(session, line_id)
    check_line_transition(line.status, LineStatus.REJECTED, line_id=line_id)
    line.status = LineStatus.REJECTED.value
    line.decided_at = now
    session.add(line)
    await session.flush()
    return line_view(line)
