"""The year end computed set-based in SQL gives what the pure rules give, line by line and in total.

For random patronage (members with and without consent or an unpaid share, non-member
business, corrections below zero, two pools), random terms (cash rate, minimum, rounding,
funds) and random margins, every stored line and the run's totals must equal
``compute_allocation`` and ``line_money`` on the same aggregates.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from domain.allocation import rules
from domain.allocation import service as allocation
from domain.allocation.tables import AllocationLine
from domain.membership import imports
from domain.membership.rules import Status
from domain.patronage.rules import MemberPatronage, PoolInput, compute_allocation, fiscal_year_end
from domain.patronage.tables import PatronageRecord

DB_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FY = 2019
PAYMENT = date(2020, 3, 15)
POOLS = ("fuel", "purchases")
_tags = itertools.count()

PAR = 10_000
JOINED = datetime(2015, 1, 1, tzinfo=UTC)
# (bylaw consent, share paid in): a member short on its share repays it from the cash.
members_st = st.lists(st.tuples(st.booleans(), st.sampled_from([0, 9_300, PAR])), min_size=1, max_size=6)
# (member index or None, member business, pool, amount): corrections may be negative.
records_st = st.lists(
    st.tuples(
        st.none() | st.integers(0, 5), st.booleans(), st.sampled_from(POOLS), st.integers(-3_000, 90_000).filter(bool)
    ),
    min_size=1,
    max_size=25,
)
terms_st = st.fixed_dictionaries(
    {
        "profile": st.sampled_from(["us", "spain"]),
        "cash_rate": st.sampled_from(["0.20", "0.35", "0.10", "1"]),
        "min_allocation_cents": st.sampled_from([0, 1_000]),
        "rounding": st.sampled_from(["largest_remainder", "residue_to_reserve"]),
    }
)
margins_st = st.tuples(st.integers(-5_000, 400_000), st.integers(0, 400_000))


@example(
    members=[(True, 0), (True, PAR)],
    records=[(0, True, "purchases", 100), (1, True, "purchases", 300)],
    terms={"profile": "us", "cash_rate": "0.20", "min_allocation_cents": 0, "rounding": "largest_remainder"},
    margins=(0, 2),
)
# A margin so large that D x volume passes 63 bits: the lines are computed in numeric, not bigint.
@example(
    members=[(True, 0), (False, 9_300), (True, PAR)],
    records=[
        (0, True, "fuel", 77_777),
        (1, True, "fuel", 33_333),
        (2, True, "fuel", 33_334),
        (0, True, "purchases", 100),
        (1, False, "purchases", 500),
    ],
    terms={"profile": "us", "cash_rate": "0.35", "min_allocation_cents": 1_000, "rounding": "largest_remainder"},
    margins=(10**16 + 7, 2),
)
@DB_SETTINGS
@given(members=members_st, records=records_st, terms=terms_st, margins=margins_st)
async def test_set_based_year_end_equals_the_pure_rules(session, members, records, terms, margins):
    savepoint = await session.begin_nested()
    try:
        tag = next(_tags)
        register = [
            imports.MemberRow(
                f"ye-{tag}-{i}", f"Year {tag} {i}", f"ye{tag}-{i}@shop.test", JOINED, Status.FULL, paid, None
            )
            for i, (_, paid) in enumerate(members)
        ]
        made = await imports.import_members(session, register, par_cents=PAR)
        for member, (consent, _) in zip(made, members, strict=True):
            # The import records bylaw consent; a member without it revoked it before the year.
            await session.execute(
                sa.text(
                    "INSERT INTO member_consent (member_id, kind, received_on, revoked_on)"
                    " VALUES (:m, 'bylaw', :on, :off)"
                    " ON CONFLICT (member_id, kind) DO UPDATE SET received_on = :on, revoked_on = :off"
                ),
                {"m": member.member_id, "on": date(2016, 1, 1), "off": None if consent else date(2017, 1, 1)},
            )
        for n, (who, business, pool, amount) in enumerate(records):
            owner = made[who] if who is not None and who < len(made) else None
            session.add(
                PatronageRecord(
                    member_id=owner.member_id if owner else None,
                    member_business=business and owner is not None,
                    fiscal_year=FY,
                    pool=pool,
                    amount_cents=amount,
                    occurred_at=datetime(FY, 6, 30, tzinfo=UTC),
                    source="import",
                    external_ref=f"ye-{tag}-{n}",
                )
            )
        await session.flush()
        pools = sorted({pool for _, _, pool, _ in records})
        margin_of = dict(zip(POOLS, margins, strict=True))
        run = await allocation.start(
            session,
            fiscal_year=FY,
            request={
                "fiscal_year": FY,
                "pools": [{"pool": p, "net_margin_cents": margin_of[p]} for p in pools],
                "payment_date": PAYMENT.isoformat(),
                "policy": terms,
            },
            payment_date=PAYMENT,
            actor=0,
            fiscal_year_start_month=1,
            today=date(2020, 3, 1),
        )
        computed = await allocation.compute(session, run.id or 0, fiscal_year_start_month=1)
        assert computed.status == "computed", computed.failure_reason

        volume: dict[tuple[int | None, str, bool], int] = defaultdict(int)
        for who, business, pool, amount in records:
            owner = made[who] if who is not None and who < len(made) else None
            volume[owner.member_id if owner else None, pool, business and owner is not None] += amount
        by_id = {m.member_id: (m, consent, paid) for m, (consent, paid) in zip(made, members, strict=True)}
        member_volume: dict[str, int] = defaultdict(int)
        nonmember_volume: dict[str, int] = defaultdict(int)
        patronage = []
        for (member_id, pool, business), cents in sorted(volume.items(), key=str):
            if not business:
                nonmember_volume[pool] += cents
            elif cents > 0 and member_id is not None:
                member, consent, _ = by_id[member_id]
                member_volume[pool] += cents
                patronage.append(MemberPatronage(member.member_number, member_id, pool, cents, consent))
        expected = compute_allocation(
            [PoolInput(p, margin_of[p], member_volume[p], max(nonmember_volume[p], 0)) for p in pools],
            patronage,
            allocation.policy_of(computed.request),
            fiscal_year_end(FY, 1),
            PAYMENT,
            await allocation._deficit_carried_into(session, FY),
        )
        want = []
        for line in expected.lines:
            _, _, paid = by_id[line.member_key]
            money = rules.line_money(
                allocation_cents=line.allocation_cents,
                cash_cents=line.cash_cents,
                retained_cents=line.retained_cents,
                base_capital=None,
                unpaid_share_cents=PAR - paid,
            )
            want.append(
                (
                    line.member_key,
                    line.member_number,
                    line.patronage_cents,
                    line.computed_cents,
                    line.allocation_cents,
                    money.cash_cents,
                    money.retained_cents,
                    money.loan_deduction_cents,
                    line.qualified,
                    line.below_minimum,
                )
            )
        stored = (
            await session.exec(
                select(AllocationLine)
                .where(col(AllocationLine.run_id) == computed.id)
                .order_by(col(AllocationLine.member_number))
            )
        ).all()
        got = [
            (
                s.member_id,
                s.member_number,
                s.patronage_cents,
                s.computed_cents,
                s.allocation_cents,
                s.cash_cents,
                s.retained_cents,
                s.loan_deduction_cents,
                s.qualified,
                s.below_minimum,
            )
            for s in stored
        ]
        assert got == want
        assert computed.totals == allocation.totals_json(expected)
    finally:
        await savepoint.rollback()
