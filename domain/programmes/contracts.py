"""Supplier contracts: terms, tiers, eligible members and the accrual of a period (DOMAIN.md section 8).

Every write under a contract locks the contract row first (`find_contract(..., lock=True)`), so reports,
matches and claims of one contract are serialized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.catalog import service as catalog
from domain.errors import FieldError, InvalidInputError, NotFoundError
from domain.membership.tables import Member
from domain.programmes.rules import (
    LineStatus,
    Period,
    PeriodFigures,
    RebateMode,
    Tier,
    contract_errors,
    figures,
    period_of,
)
from domain.programmes.tables import (
    ContractMember,
    ContractTier,
    PurchaseLine,
    SupplierContract,
)
from domain.programmes.views import (
    AccrualView,
    ContractView,
    MemberAccrual,
    TierView,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession


def any_id(values: Sequence[int]) -> Any:  # noqa: ANN401 - an SQL expression
    """`column = ANY(ids)` with the ids as one array parameter, however many there are."""
    return sa.any_(sa.literal(list(values), ARRAY(sa.BigInteger)))


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
        sa.select(col(Member.member_number), col(Member.id)).where(col(Member.member_number) == any_id(numbers))
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


async def find_contract(
    session: AsyncSession, contract_id: int, *, only_supplier_id: int | None, lock: bool = False
) -> SupplierContract:
    """The contract (locked FOR UPDATE if asked); 404 if unknown or another supplier's."""
    query = select(SupplierContract).where(col(SupplierContract.id) == contract_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    contract = (await session.exec(query)).one_or_none()
    if contract is None or (only_supplier_id is not None and contract.supplier_id != only_supplier_id):
        raise NotFoundError(f"contract {contract_id} not found")
    return contract


async def check_visible(session: AsyncSession, contract_id: int, *, only_supplier_id: int | None) -> None:
    """404 unless the contract exists and the caller may see it (before a body is even read)."""
    await find_contract(session, contract_id, only_supplier_id=only_supplier_id)


async def contract_tiers(session: AsyncSession, contract_ids: Sequence[int]) -> dict[int, tuple[Tier, ...]]:
    """Each contract's tiers, lowest minimum spend first."""
    rows = (
        await session.exec(
            select(ContractTier)
            .where(col(ContractTier.contract_id) == any_id(contract_ids))
            .order_by(col(ContractTier.contract_id), col(ContractTier.min_spend_cents))
        )
    ).all()
    out: dict[int, list[Tier]] = {}
    for row in rows:
        out.setdefault(row.contract_id, []).append(Tier(row.min_spend_cents, row.rate))
    return {k: tuple(v) for k, v in out.items()}


async def period_spends(
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
            col(PurchaseLine.contract_id) == any_id(contract_ids),
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


def accrual_view(
    contract: SupplierContract, tiers: Sequence[Tier], bounds: tuple[date, date], members: dict[int, tuple[int, int]]
) -> AccrualView:
    """A period's figures under the contract: spend, rebate, fee, pass-through, and each member's part."""
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


def period_bounds(contract: SupplierContract, day: date) -> tuple[date, date] | None:
    """The first and last day of the contract period holding `day`, or None outside the contract."""
    return period_of(contract.starts_on, contract.ends_on, Period(contract.period), day)


async def _views(session: AsyncSession, contracts: Sequence[SupplierContract], *, today: date) -> list[ContractView]:
    ids = [c.id for c in contracts if c.id is not None]
    tiers = await contract_tiers(session, ids)
    eligible: dict[int, list[int]] = {}
    listed = [c.id for c in contracts if c.id is not None and not c.all_members]
    if listed:
        rows = await session.execute(
            sa.select(col(ContractMember.contract_id), col(Member.member_number))
            .join(Member, col(Member.id) == col(ContractMember.member_id))
            .where(col(ContractMember.contract_id) == any_id(listed))
            .order_by(col(Member.member_number))
        )
        for contract_id, number in rows.all():
            eligible.setdefault(contract_id, []).append(int(number))
    current = {c.id: b for c in contracts if c.id is not None and (b := period_bounds(c, today)) is not None}
    spends = await period_spends(session, [(cid, b[0]) for cid, b in current.items()])
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
                else accrual_view(c, tiers.get(c.id, ()), bounds, spends.get((c.id, bounds[0]), {})),
            )
        )
    return out


async def get_contract(
    session: AsyncSession, contract_id: int, *, only_supplier_id: int | None, today: date
) -> ContractView:
    """One contract with its live accrual (404 for another supplier's users)."""
    contract = await find_contract(session, contract_id, only_supplier_id=only_supplier_id)
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
    contract = await find_contract(session, contract_id, only_supplier_id=only_supplier_id)
    bounds = period_bounds(contract, day)
    if bounds is None:
        raise InvalidInputError(
            "the day is outside the contract's term", [FieldError("period_start", "outside the contract's term")]
        )
    assert contract.id is not None  # noqa: S101 - loaded from the database
    tiers = (await contract_tiers(session, [contract.id])).get(contract.id, ())
    spends = await period_spends(session, [(contract.id, bounds[0])])
    return accrual_view(contract, tiers, bounds, spends.get((contract.id, bounds[0]), {}))
