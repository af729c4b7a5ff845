"""Supplier programmes under concurrency (real connections, real COMMITs): a report sent twice at once is
recorded once, and receipts racing to pay a claim credit the members' pass-through exactly once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import col

from domain.catalog import service as catalog
from domain.db import make_session_maker
from domain.errors import ConflictError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import service as membership
from domain.patronage.tables import PatronageRecord
from domain.programmes import claims, contracts, reports
from domain.programmes.rules import LineIn, Period, RebateMode, Tier

RACERS = 4


async def test_racing_reports_and_receipts_count_once(committing_engine):
    maker = make_session_maker(committing_engine)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    year = now.year - 1
    async with maker() as s:
        supplier = await catalog.create_supplier(s, name=f"Race Mill {tag}", email=f"{tag}@mill.test")
        member = await membership.apply(
            s, name=f"Race {tag}", email=f"{tag}@shop.test", contact_name=None, par_cents=10_000
        )
        member.status, member.joined_at = "full", datetime(year - 1, 1, 1, tzinfo=UTC)
        s.add(member)
        await s.flush()
        terms = contracts.NewContract(
            starts_on=date(year, 1, 1),
            ends_on=date(year, 12, 31),
            pool=f"race_{tag}",  # its own pool: these commits stay in the shared database
            period=Period.YEAR,
            rebate_mode=RebateMode.RETROACTIVE,
            tiers=(Tier(0, Decimal("0.03")),),
            admin_fee_rate=Decimal("0.01"),
            pass_through_rate=Decimal(1),
            eligible_members=None,
        )
        contract = await contracts.create_contract(s, supplier.id or 0, terms, today=now.date())
        await s.commit()
    number = member.member_number or 0
    lines = [LineIn(f"{tag}-{i}", number, datetime(year, 3, 1 + i, tzinfo=UTC), 10_000) for i in range(5)]

    async def report() -> tuple[int, int]:
        async with maker() as s:
            outcome = await reports.report_purchases(
                s, contract.id, lines, only_supplier_id=None, now=now, fiscal_year_start_month=1
            )
            await s.commit()
            return outcome.accepted, outcome.duplicates

    outcomes = await asyncio.gather(*(report() for _ in range(RACERS)))
    assert sum(a for a, _ in outcomes) == 5
    assert sorted(outcomes) == [(0, 5)] * (RACERS - 1) + [(5, 0)]
    async with maker() as s:
        claim = await claims.create_claim(s, contract.id, period_start=date(year, 1, 1), now=now)
        await s.commit()
    due = claim.rebate_cents + claim.fee_cents
    assert (claim.spend_cents, claim.rebate_cents, claim.fee_cents, claim.pass_through_cents) == (
        50_000,
        1_500,
        500,
        1_500,
    )

    async def pay(i: int) -> bool:
        async with maker() as s:
            try:
                await claims.record_receipt(
                    s, claim.id, amount_cents=due, received_on=now.date(), reference=f"wire {i}", now=now
                )
            except ConflictError:
                await s.rollback()
                return False
            await s.commit()
            return True

    paid = await asyncio.gather(*(pay(i) for i in range(RACERS)))
    assert sum(paid) == 1
    async with maker() as s:
        assert await ledger.balance_of(s, chart.member_trade(member.id or 0)) == -1_500
        assert await ledger.balance_of(s, chart.supplier_programme_receivable(supplier.id or 0)) == 0
        records = await s.execute(
            sa.select(sa.func.count(), sa.func.sum(col(PatronageRecord.amount_cents))).where(
                col(PatronageRecord.member_id) == member.id, col(PatronageRecord.source) == "programme"
            )
        )
        assert tuple(records.one()) == (5, 50_000)
