"""Supplier programmes: contracts, purchase reports, accruals, claims and receipts (DOMAIN.md section 8).

Every write under a contract locks the contract row first, so reports, matches and claims of one
contract are serialized: a correction is checked against the spend it reduces, and a claim sums a
period no report is changing. Unique constraints (line per contract and reference, claim per
contract and period, journal keys) make retries harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.catalog import service as catalog
from domain.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.membership.tables import Member
from domain.patronage import service as patronage
from domain.patronage.rules import fiscal_year_end, fiscal_year_of, is_member_business, utc_day_range
from domain.programmes.rules import (
    ClaimStatus,
    ExpensePaidFrom,
    Holding,
    LineIn,
    LineStatus,
    MemberFacts,
    Period,
    PeriodFigures,
    RebateMode,
    ReportContext,
    Tier,
    add_months,
    check_line_transition,
    classify_lines,
    contract_errors,
    expense_errors,
    figures,
    period_of,
    receipt_outcome,
    report_errors,
)
from domain.programmes.tables import (
    Claim,
    ClaimMember,
    ClaimReceipt,
    ContractMember,
    ContractTier,
    PoolExpense,
    PurchaseLine,
    SupplierContract,
)
from domain.programmes.views import (
    AccrualView,
    ClaimView,
    ContractView,
    ExpenseView,
    LineView,
    MemberAccrual,
    PoolMargin,
    ReportOutcome,
    TierView,
    Unmatched,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

_BATCH = 1000  # rows per INSERT: PostgreSQL takes at most 32767 parameters per statement
PERIOD_NOT_ENDED = "period_not_ended"
PERIOD_CLAIMED = "period_claimed"
LINE_STILL_HELD = "purchase_line_still_held"


def _ids(values: Sequence[int]) -> Any:  # noqa: ANN401 - an SQL expression
    return sa.any_(sa.literal(list(values), ARRAY(sa.BigInteger)))


# --- contracts --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewContract:
    """A contract's terms as the request gave them."""

    starts_on: date
    ends_on: date
    pool: str
    period: Period
    rebate_mode: RebateMode
    tiers: tuple[Tier, ...]
    admin_fee_rate: Decimal
    pass_through_rate: Decimal
    eligible_members: tuple[int, ...] | None  # member numbers; None: every member


async def _member_ids(session: AsyncSession, numbers: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        sa.select(col(Member.member_number), col(Member.id)).where(col(Member.member_number) == _ids(numbers))
    )
    return {int(n): int(i) for n, i in rows.all()}


async def create_contract(session: AsyncSession, supplier_id: int, new: NewContract, *, today: date) -> ContractView:
    """Staff sign a contract with a supplier (404 unknown supplier, 400 naming bad terms)."""
    await catalog.get_supplier(session, supplier_id)
    errors = contract_errors(
        starts_on=new.starts_on,
        ends_on=new.ends_on,
        pool=new.pool,
        tiers=new.tiers,
        admin_fee_rate=new.admin_fee_rate,
        pass_through_rate=new.pass_through_rate,
    )
    member_ids: dict[int, int] = {}
    if new.eligible_members is not None:
        member_ids = await _member_ids(session, new.eligible_members)
        errors += [
            FieldError(f"eligible_members[{i}]", "no member has this number")
            for i, n in enumerate(new.eligible_members)
            if n not in member_ids
        ]
    if errors:
        raise InvalidInputError("the contract is not valid", errors)
    contract = SupplierContract(
        supplier_id=supplier_id,
        starts_on=new.starts_on,
        ends_on=new.ends_on,
        pool=new.pool,
        period=new.period.value,
        rebate_mode=new.rebate_mode.value,
        admin_fee_rate=new.admin_fee_rate,
        pass_through_rate=new.pass_through_rate,
        all_members=new.eligible_members is None,
    )
    session.add(contract)
    await session.flush()
    assert contract.id is not None  # noqa: S101 - flushed
    session.add_all(
        ContractTier(contract_id=contract.id, min_spend_cents=t.min_spend_cents, rate=t.rate) for t in new.tiers
    )
    if member_ids:
        await session.execute(
            insert(ContractMember)
            .values([{"contract_id": contract.id, "member_id": m} for m in sorted(set(member_ids.values()))])
            .on_conflict_do_nothing()
        )
    await session.flush()
    return (await _views(session, [contract], today=today))[0]


async def _contract(
    session: AsyncSession, contract_id: int, *, only_supplier_id: int | None, lock: bool = False
) -> SupplierContract:
    query = select(SupplierContract).where(col(SupplierContract.id) == contract_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    contract = (await session.exec(query)).one_or_none()
    if contract is None or (only_supplier_id is not None and contract.supplier_id != only_supplier_id):
        raise NotFoundError(f"contract {contract_id} not found")
    return contract


async def check_visible(session: AsyncSession, contract_id: int, *, only_supplier_id: int | None) -> None:
    """404 unless the contract exists and the caller may see it (before a body is even read)."""
    await _contract(session, contract_id, only_supplier_id=only_supplier_id)


async def _tiers(session: AsyncSession, contract_ids: Sequence[int]) -> dict[int, tuple[Tier, ...]]:
    rows = (
        await session.exec(
            select(ContractTier)
            .where(col(ContractTier.contract_id) == _ids(contract_ids))
            .order_by(col(ContractTier.contract_id), col(ContractTier.min_spend_cents))
        )
    ).all()
    out: dict[int, list[Tier]] = {}
    for row in rows:
        out.setdefault(row.contract_id, []).append(Tier(row.min_spend_cents, row.rate))
    return {k: tuple(v) for k, v in out.items()}


async def _spends(
    session: AsyncSession, periods: Sequence[tuple[int, date]]
) -> dict[tuple[int, date], dict[int, tuple[int, int]]]:
    """Accepted spend per (contract, period start), per member: member number -> (member id, spend)."""
    if not periods:
        return {}
    contract_ids = sorted({c for c, _ in periods})
    rows = await session.execute(
        sa.select(
            col(PurchaseLine.contract_id),
            col(PurchaseLine.period_start),
            col(Member.id),
            col(Member.member_number),
            sa.func.sum(col(PurchaseLine.amount_cents)),
        )
        .join(Member, col(Member.id) == col(PurchaseLine.member_id))
        .where(
            col(PurchaseLine.contract_id) == _ids(contract_ids),
            col(PurchaseLine.status) == LineStatus.ACCEPTED.value,
        )
        .where(sa.tuple_(col(PurchaseLine.contract_id), col(PurchaseLine.period_start)).in_(list(periods)))
        .group_by(col(PurchaseLine.contract_id), col(PurchaseLine.period_start), col(Member.id))
    )
    out: dict[tuple[int, date], dict[int, tuple[int, int]]] = {}
    for contract_id, start, member_id, number, spend in rows.all():
        out.setdefault((contract_id, start), {})[int(number)] = (int(member_id), int(spend))
    return out


def _figures(contract: SupplierContract, tiers: Sequence[Tier], spends: dict[int, int]) -> PeriodFigures:
    return figures(
        spends,
        tiers=tiers,
        mode=RebateMode(contract.rebate_mode),
        fee_rate=contract.admin_fee_rate,
        pass_through_rate=contract.pass_through_rate,
    )


def _accrual(
    contract: SupplierContract, tiers: Sequence[Tier], bounds: tuple[date, date], members: dict[int, tuple[int, int]]
) -> AccrualView:
    fig = _figures(contract, tiers, {n: spend for n, (_, spend) in members.items()})
    return AccrualView(
        period_start=bounds[0],
        period_end=bounds[1],
        spend_cents=fig.spend_cents,
        rebate_cents=fig.rebate_cents,
        fee_cents=fig.fee_cents,
        pass_through_cents=fig.pass_through_cents,
        members=tuple(MemberAccrual(members[n][0], n, spend, part) for n, (spend, part) in fig.members.items()),
    )


def _bounds(contract: SupplierContract, day: date) -> tuple[date, date] | None:
    return period_of(contract.starts_on, contract.ends_on, Period(contract.period), day)


async def _views(session: AsyncSession, contracts: Sequence[SupplierContract], *, today: date) -> list[ContractView]:
    ids = [c.id for c in contracts if c.id is not None]
    tiers = await _tiers(session, ids)
    eligible: dict[int, list[int]] = {}
    listed = [c.id for c in contracts if c.id is not None and not c.all_members]
    if listed:
        rows = await session.execute(
            sa.select(col(ContractMember.contract_id), col(Member.member_number))
            .join(Member, col(Member.id) == col(ContractMember.member_id))
            .where(col(ContractMember.contract_id) == _ids(listed))
            .order_by(col(Member.member_number))
        )
        for contract_id, number in rows.all():
            eligible.setdefault(contract_id, []).append(int(number))
    current = {c.id: b for c in contracts if c.id is not None and (b := _bounds(c, today)) is not None}
    spends = await _spends(session, [(cid, b[0]) for cid, b in current.items()])
    out = []
    for c in contracts:
        assert c.id is not None  # noqa: S101 - loaded from the database
        bounds = current.get(c.id)
        out.append(
            ContractView(
                id=c.id,
                supplier_id=c.supplier_id,
                starts_on=c.starts_on,
                ends_on=c.ends_on,
                pool=c.pool,
                period=c.period,
                rebate_mode=c.rebate_mode,
                tiers=tuple(TierView(t.min_spend_cents, t.rate) for t in tiers.get(c.id, ())),
                admin_fee_rate=c.admin_fee_rate,
                pass_through_rate=c.pass_through_rate,
                eligible_members=None if c.all_members else tuple(eligible.get(c.id, [])),
                created_at=c.created_at,
                current=None
                if bounds is None
                else _accrual(c, tiers.get(c.id, ()), bounds, spends.get((c.id, bounds[0]), {})),
            )
        )
    return out


async def get_contract(
    session: AsyncSession, contract_id: int, *, only_supplier_id: int | None, today: date
) -> ContractView:
    """One contract with its live accrual (404 for another supplier's users)."""
    contract = await _contract(session, contract_id, only_supplier_id=only_supplier_id)
    return (await _views(session, [contract], today=today))[0]


async def contract_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    only_supplier_id: int | None,
    supplier_id: int | None,
    today: date,
) -> list[ContractView]:
    """Contracts in id order; a supplier's users see only their own."""
    query = select(SupplierContract).where(col(SupplierContract.id) > after_id)
    for wanted in (only_supplier_id, supplier_id):
        if wanted is not None:
            query = query.where(col(SupplierContract.supplier_id) == wanted)
    rows = (await session.exec(query.order_by(col(SupplierContract.id)).limit(limit))).all()
    return await _views(session, rows, today=today)


async def accrual(session: AsyncSession, contract_id: int, *, only_supplier_id: int | None, day: date) -> AccrualView:
    """The accrual of the period ``day`` falls in, per member (400 naming ``period_start`` outside the term)."""
    contract = await _contract(session, contract_id, only_supplier_id=only_supplier_id)
    bounds = _bounds(contract, day)
    if bounds is None:
        raise InvalidInputError(
            "the day is outside the contract's term", [FieldError("period_start", "outside the contract's term")]
        )
    assert contract.id is not None  # noqa: S101 - loaded from the database
    tiers = (await _tiers(session, [contract.id])).get(contract.id, ())
    spends = await _spends(session, [(contract.id, bounds[0])])
    return _accrual(contract, tiers, bounds, spends.get((contract.id, bounds[0]), {}))


# --- purchase reports -------------------------------------------------------------


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
                col(Member.member_number) == _ids(sorted(set(numbers)))
            )
        )
    ).all()
    known = {int(r.member_number): _Known(int(r.id), r.joined_at, r.left_at) for r in rows}
    eligible: set[int] = {k.member_id for k in known.values()}
    if not contract.all_members and eligible:
        listed = await session.execute(
            sa.select(col(ContractMember.member_id)).where(
                col(ContractMember.contract_id) == contract.id,
                col(ContractMember.member_id) == _ids(sorted(eligible)),
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
            col(PurchaseLine.member_id) == _ids(sorted(k.member_id for k in known.values())),
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
    contract = await _contract(session, contract_id, only_supplier_id=only_supplier_id, lock=True)
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


def _line_view(line: PurchaseLine) -> LineView:
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
    await _contract(session, contract_id, only_supplier_id=only_supplier_id)
    query = select(PurchaseLine).where(col(PurchaseLine.contract_id) == contract_id, col(PurchaseLine.id) > after_id)
    if status is not None:
        query = query.where(col(PurchaseLine.status) == status.value)
    rows = (await session.exec(query.order_by(col(PurchaseLine.id)).limit(limit))).all()
    return [_line_view(r) for r in rows]


async def _held_line(session: AsyncSession, line_id: int) -> tuple[SupplierContract, PurchaseLine]:
    found = await session.get(PurchaseLine, line_id)
    if found is None:
        raise NotFoundError(f"purchase line {line_id} not found")
    contract = await _contract(session, found.contract_id, only_supplier_id=None, lock=True)
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
    return _line_view(line)


async def reject_line(session: AsyncSession, line_id: int, *, now: datetime) -> LineView:
    """Staff reject a held line: kept, never patronage."""
    _, line = await _held_line(session, line_id)
    check_line_transition(line.status, LineStatus.REJECTED, line_id=line_id)
    line.status = LineStatus.REJECTED.value
    line.decided_at = now
    session.add(line)
    await session.flush()
    return _line_view(line)


# --- claims and receipts ----------------------------------------------------------


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
    contract = await _contract(session, contract_id, only_supplier_id=None, lock=True)
    bounds = _bounds(contract, period_start)
    if bounds is None or bounds[0] != period_start:
        raise InvalidInputError(
            "period_start is not the first day of one of the contract's periods",
            [FieldError("period_start", "not the first day of a period of this contract")],
        )
    if bounds[1] >= now.astimezone(UTC).date():
        msg = f"the period {bounds[0]}..{bounds[1]} has not ended"
        raise ConflictError(msg, code=PERIOD_NOT_ENDED)
    tiers = (await _tiers(session, [contract_id])).get(contract_id, ())
    members = (await _spends(session, [(contract_id, period_start)])).get((contract_id, period_start), {})
    acc = _accrual(contract, tiers, bounds, members)
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
    return [_line_view(r) for r in rows]


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


# --- margins from the books -------------------------------------------------------


async def pool_margins(session: AsyncSession, fiscal_year: int, *, fiscal_year_start_month: int) -> list[PoolMargin]:
    """Each pool's programme margin in a fiscal year, read from the ledger (rebates + fees - pass-through).

    Claims are dated on their period's last day, so a period counts in the year it ended in.
    """
    last = fiscal_year_end(fiscal_year, fiscal_year_start_month)
    start, end = utc_day_range(add_months(last, -12) + timedelta(days=1), last)
    signed = sa.case(
        (col(Posting.side) == Side.CREDIT.value, col(Posting.amount_cents)), else_=-col(Posting.amount_cents)
    )
    rows = await session.execute(
        sa.select(col(Account.code), sa.func.sum(signed))
        .join(Posting, col(Posting.account_id) == col(Account.id))
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(
            col(Account.code).like(chart.PROGRAMME_PATTERN),
            col(JournalEntry.occurred_at) >= start,
            col(JournalEntry.occurred_at) < end,
        )
        .group_by(col(Account.code))
    )
    found: dict[str, dict[str, int]] = {}
    for code, credit_minus_debit in rows.all():
        pool, _, what = str(code).removeprefix(chart.PROGRAMME_CODE_PREFIX).rpartition(":")
        found.setdefault(pool, {})[what] = int(credit_minus_debit)
    return [
        PoolMargin(
            pool=pool,
            rebate_income_cents=parts.get("rebate_income", 0),
            fee_income_cents=parts.get("fee_income", 0),
            pass_through_cents=-parts.get("pass_through", 0),
        )
        for pool, parts in sorted(found.items())
    ]


def fiscal_year_range(fiscal_year: int, fiscal_year_start_month: int) -> tuple[datetime, datetime]:
    """The fiscal year as a half-open range of UTC instants, as its ledger entries are dated."""
    last = fiscal_year_end(fiscal_year, fiscal_year_start_month)
    start, end = utc_day_range(add_months(last, -12) + timedelta(days=1), last)
    assert start is not None  # noqa: S101 - both days given
    assert end is not None  # noqa: S101
    return start, end


# --- expenses staff enter against a pool --------------------------------------------


@dataclass(frozen=True, slots=True)
class NewExpense:
    """What staff enter: the pool, the day it was incurred, the amount, where the money came from."""

    pool: str
    incurred_on: date
    amount_cents: int
    paid_from: ExpensePaidFrom
    description: str


def _paid_from_account(paid_from: ExpensePaidFrom) -> chart.AccountSpec:
    return {
        ExpensePaidFrom.BANK: chart.BANK,
        ExpensePaidFrom.CASH: chart.CASH,
        ExpensePaidFrom.ACCRUED: chart.ACCRUED_EXPENSES,
    }[paid_from]


def _expense_view(row: PoolExpense) -> ExpenseView:
    assert row.id is not None  # noqa: S101 - stored
    return ExpenseView(
        row.id, row.pool, row.incurred_on, row.fiscal_year, row.amount_cents, row.paid_from, row.description
    )


async def record_expense(
    session: AsyncSession, new: NewExpense, *, actor: int, fiscal_year_start_month: int
) -> ExpenseView:
    """Store the expense and post it, dated the day it was incurred, so it counts in that day's fiscal year.

    Debit the pool's expense account, credit the bank, the till or accrued expenses; a negative
    amount (a correction) posts the other way round.
    """
    if errors := expense_errors(new.pool, new.amount_cents):
        raise InvalidInputError("the expense is not valid", errors)
    row = PoolExpense(
        pool=new.pool,
        incurred_on=new.incurred_on,
        fiscal_year=fiscal_year_of(new.incurred_on, fiscal_year_start_month),
        amount_cents=new.amount_cents,
        paid_from=new.paid_from.value,
        description=new.description,
        created_by=actor,
    )
    session.add(row)
    await session.flush()
    expense, source = chart.pool_expenses(new.pool), _paid_from_account(new.paid_from)
    debit, credit = (expense, source) if new.amount_cents > 0 else (source, expense)
    await ledger.transfer(
        session,
        debit=debit,
        credit=credit,
        amount_cents=abs(new.amount_cents),
        kind="pool_expense",
        idempotency_key=f"pool_expense:{row.id}",
        occurred_at=datetime.combine(new.incurred_on, time(), tzinfo=UTC),
        memo=f"{new.pool}: {new.description}"[:500],
    )
    return _expense_view(row)


async def list_expenses(session: AsyncSession, fiscal_year: int, pool: str | None = None) -> list[ExpenseView]:
    """A fiscal year's expenses (of one pool, if named), oldest first."""
    query = select(PoolExpense).where(col(PoolExpense.fiscal_year) == fiscal_year)
    if pool is not None:
        query = query.where(col(PoolExpense.pool) == pool)
    rows = await session.exec(query.order_by(col(PoolExpense.incurred_on), col(PoolExpense.id)))
    return [_expense_view(r) for r in rows.all()]


async def pool_expense_balances(
    session: AsyncSession, fiscal_year: int, pools: Sequence[str], *, fiscal_year_start_month: int
) -> dict[str, int]:
    """Per pool, the expenses still open in its account for the year (the year's closing entry empties it)."""
    start, end = fiscal_year_range(fiscal_year, fiscal_year_start_month)
    signed = sa.case(
        (col(Posting.side) == Side.DEBIT.value, col(Posting.amount_cents)), else_=-col(Posting.amount_cents)
    )
    codes = {chart.pool_expenses(pool).code: pool for pool in pools}
    rows = await session.execute(
        sa.select(col(Account.code), sa.func.sum(signed))
        .join(Posting, col(Posting.account_id) == col(Account.id))
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(
            col(Account.code).in_(sorted(codes)),
            col(JournalEntry.occurred_at) >= start,
            col(JournalEntry.occurred_at) < end,
        )
        .group_by(col(Account.code))
    )
    return {codes[str(code)]: int(total) for code, total in rows.all()}
