"""Claims of a period's rebates and fees from a supplier, and the receipts that settle them.

A claim sums a period no report is changing (the contract row is locked); one claim per contract and period,
and journal keys, make retries harmless.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side
from domain.membership.tables import Member
from domain.programmes.contracts import accrual_view, contract_tiers, find_contract, period_bounds, period_spends
from domain.programmes.reports import line_view
from domain.programmes.rules import (
    ClaimStatus,
    LineStatus,
    receipt_outcome,
)
from domain.programmes.tables import (
    Claim,
    ClaimMember,
    ClaimReceipt,
    PurchaseLine,
)
from domain.programmes.views import (
    ClaimView,
    LineView,
    MemberAccrual,
)

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

PERIOD_NOT_ENDED = "period_not_ended"
PERIOD_CLAIMED = "period_claimed"


async def _claim_view(session: AsyncSession, claim: Claim) -> ClaimView:
    assert claim.id is not None  # noqa: S101 - loaded from the database
    rows = await session.execute(
        sa.select(
            col(ClaimMember.member_id),
            col(Member.member_number),
            col(ClaimMember.spend_cents),
            col(ClaimMember.pass_through_cents),
        )
        .join(Member, col(Member.id) == col(ClaimMember.member_id))
        .where(col(ClaimMember.claim_id) == claim.id)
        .order_by(col(Member.member_number))
    )
    return ClaimView(
        id=claim.id,
        contract_id=claim.contract_id,
        supplier_id=claim.supplier_id,
        period_start=claim.period_start,
        period_end=claim.period_end,
        spend_cents=claim.spend_cents,
        rebate_cents=claim.rebate_cents,
        fee_cents=claim.fee_cents,
        pass_through_cents=claim.pass_through_cents,
        received_cents=claim.received_cents,
        status=claim.status,
        created_at=claim.created_at,
        paid_at=claim.paid_at,
        members=tuple(MemberAccrual(int(m), int(n), int(s), int(p)) for m, n, s, p in rows.all()),
    )


async def _post_claim(session: AsyncSession, claim: Claim, pool: str) -> None:
    """Receivable from the supplier against rebate and fee income; the members' share owed to them."""
    legs = [
        (chart.supplier_programme_receivable(claim.supplier_id), Side.DEBIT, claim.rebate_cents + claim.fee_cents),
        (chart.programme_rebate_income(pool), Side.CREDIT, claim.rebate_cents),
        (chart.programme_fee_income(pool), Side.CREDIT, claim.fee_cents),
        (chart.programme_pass_through(pool), Side.DEBIT, claim.pass_through_cents),
        (chart.PASS_THROUGH_PAYABLE, Side.CREDIT, claim.pass_through_cents),
    ]
    lines = [PostingLine(await ledger.account_id(session, spec), side, cents) for spec, side, cents in legs if cents]
    if lines:
        # Earned in the period: dated on its last day, so the income falls in the period's fiscal year.
        await ledger.post_entry(
            session,
            kind="programme_claim",
            idempotency_key=f"programme_claim:{claim.id}",
            occurred_at=datetime.combine(claim.period_end, time(), tzinfo=UTC),
            lines=lines,
            memo=f"claim {claim.id}: contract {claim.contract_id}, period from {claim.period_start}",
        )


async def create_claim(session: AsyncSession, contract_id: int, *, period_start: date, now: datetime) -> ClaimView:
    """Staff claim an ended period's rebate and fee from the supplier, once (409 otherwise)."""
    contract = await find_contract(session, contract_id, only_supplier_id=None, lock=True)
    bounds = period_bounds(contract, period_start)
    if bounds is None or bounds[0] != period_start:
        raise InvalidInputError(
            "period_start is not the first day of one of the contract's periods",
            [FieldError("period_start", "not the first day of a period of this contract")],
        )
    if bounds[1] >= now.astimezone(UTC).date():
        msg = f"the period {bounds[0]}..{bounds[1]} has not ended"
        raise ConflictError(msg, code=PERIOD_NOT_ENDED)
    tiers = (await contract_tiers(session, [contract_id])).get(contract_id, ())
    members = (await period_spends(session, [(contract_id, period_start)])).get((contract_id, period_start), {})
    acc = accrual_view(contract, tiers, bounds, members)
    claim_id = (
        await session.execute(
            insert(Claim)
            .values(
                contract_id=contract_id,
                supplier_id=contract.supplier_id,
                period_start=bounds[0],
                period_end=bounds[1],
                spend_cents=acc.spend_cents,
                rebate_cents=acc.rebate_cents,
                fee_cents=acc.fee_cents,
                pass_through_cents=acc.pass_through_cents,
                received_cents=0,
                status=(ClaimStatus.OPEN if acc.rebate_cents + acc.fee_cents else ClaimStatus.PAID).value,
                paid_at=None if acc.rebate_cents + acc.fee_cents else now,
            )
            .on_conflict_do_nothing(index_elements=["contract_id", "period_start"])
            .returning(col(Claim.id))
        )
    ).scalar_one_or_none()
    if claim_id is None:
        msg = f"the period from {period_start} of contract {contract_id} is already claimed"
        raise ConflictError(msg, code=PERIOD_CLAIMED)
    if acc.members:
        await session.execute(
            sa.insert(ClaimMember).values(
                [
                    {
                        "claim_id": claim_id,
                        "member_id": m.member_id,
                        "spend_cents": m.spend_cents,
                        "pass_through_cents": m.pass_through_cents,
                    }
                    for m in acc.members
                ]
            )
        )
    claim = await session.get(Claim, claim_id)
    assert claim is not None  # noqa: S101 - just written
    await _post_claim(session, claim, contract.pool)
    return await _claim_view(session, claim)


async def _claim(session: AsyncSession, claim_id: int, *, only_supplier_id: int | None, lock: bool = False) -> Claim:
    query = select(Claim).where(col(Claim.id) == claim_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    claim = (await session.exec(query)).one_or_none()
    if claim is None or (only_supplier_id is not None and claim.supplier_id != only_supplier_id):
        raise NotFoundError(f"claim {claim_id} not found")
    return claim


async def get_claim(session: AsyncSession, claim_id: int, *, only_supplier_id: int | None) -> ClaimView:
    """One claim with its members' shares (404 for another supplier's users)."""
    return await _claim_view(session, await _claim(session, claim_id, only_supplier_id=only_supplier_id))


async def claim_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    only_supplier_id: int | None,
    contract_id: int | None,
    status: ClaimStatus | None,
) -> list[ClaimView]:
    """Claims in id order; a supplier's users see only their own."""
    query = select(Claim).where(col(Claim.id) > after_id)
    if only_supplier_id is not None:
        query = query.where(col(Claim.supplier_id) == only_supplier_id)
    if contract_id is not None:
        query = query.where(col(Claim.contract_id) == contract_id)
    if status is not None:
        query = query.where(col(Claim.status) == status.value)
    rows = (await session.exec(query.order_by(col(Claim.id)).limit(limit))).all()
    return [await _claim_view(session, c) for c in rows]


async def claim_statement(
    session: AsyncSession, claim_id: int, *, only_supplier_id: int | None, after_id: int, limit: int
) -> list[LineView]:
    """The accepted purchases a claim bills (its statement), in id order."""
    claim = await _claim(session, claim_id, only_supplier_id=only_supplier_id)
    rows = (
        await session.exec(
            select(PurchaseLine)
            .where(
                col(PurchaseLine.contract_id) == claim.contract_id,
                col(PurchaseLine.period_start) == claim.period_start,
                col(PurchaseLine.status) == LineStatus.ACCEPTED.value,
                col(PurchaseLine.id) > after_id,
            )
            .order_by(col(PurchaseLine.id))
            .limit(limit)
        )
    ).all()
    return [line_view(r) for r in rows]


async def _pass_through(session: AsyncSession, claim: Claim, now: datetime) -> None:
    """The members' share, owed since the claim, credited to their trade accounts (one entry per claim)."""
    if claim.pass_through_cents == 0:
        return
    parts = (
        await session.execute(
            sa.select(col(ClaimMember.member_id), col(ClaimMember.pass_through_cents))
            .where(col(ClaimMember.claim_id) == claim.id, col(ClaimMember.pass_through_cents) > 0)
            .order_by(col(ClaimMember.member_id))
        )
    ).all()
    lines = [
        PostingLine(await ledger.account_id(session, chart.PASS_THROUGH_PAYABLE), Side.DEBIT, claim.pass_through_cents)
    ]
    lines += [
        PostingLine(await ledger.account_id(session, chart.member_trade(int(m))), Side.CREDIT, int(p)) for m, p in parts
    ]
    await ledger.post_entry(
        session,
        kind="programme_pass_through",
        idempotency_key=f"programme_pass_through:{claim.id}",
        occurred_at=now,
        lines=lines,
        memo=f"rebate passed through: claim {claim.id}",
    )


async def record_receipt(
    session: AsyncSession,
    claim_id: int,
    *,
    amount_cents: int,
    received_on: date,
    reference: str,
    now: datetime,
) -> ClaimView:
    """Money from the supplier against a claim; once it is covered the members' share is credited, once."""
    claim = await _claim(session, claim_id, only_supplier_id=None, lock=True)
    target = receipt_outcome(
        status=claim.status,
        due_cents=claim.rebate_cents + claim.fee_cents,
        received_cents=claim.received_cents,
        amount_cents=amount_cents,
        claim_id=claim_id,
    )
    receipt = ClaimReceipt(claim_id=claim_id, amount_cents=amount_cents, received_on=received_on, reference=reference)
    session.add(receipt)
    claim.received_cents += amount_cents
    claim.status = target.value
    if target is ClaimStatus.PAID:
        claim.paid_at = now
    session.add(claim)
    await session.flush()
    await ledger.record_receipt(
        session,
        method=chart.PaymentMethod.BANK_TRANSFER,
        credit=chart.supplier_programme_receivable(claim.supplier_id),
        amount_cents=amount_cents,
        kind="programme_receipt",
        key=str(receipt.id),
        reference=reference,
        occurred_at=datetime.combine(received_on, time(), tzinfo=UTC),
    )
    if target is ClaimStatus.PAID:
        await _pass_through(session, claim, now)
    return await _claim_view(session, claim)
